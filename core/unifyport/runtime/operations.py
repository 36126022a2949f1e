"""Runtime calls any process answers: run here when this process runs the account's client
(or holds its login flow), else forwarded to the process that does (``runtime/forward.py``).

Each operation is a name, JSON arguments and a JSON result. ``send`` and ``auth_step`` are
registered at start-up (:func:`register`); a new runtime call registers its handler the same
way and calls :func:`on_owner`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
from sqlalchemy import update

from unifyport.accounts.service import emit, get_account, resolve_mode
from unifyport.accounts.views import account_json
from unifyport.auth.results import StepError
from unifyport.auth.service import STEP_TIMEOUT, Elsewhere, HeldElsewhere, run_step
from unifyport.db.models import Account
from unifyport.db.types import utcnow
from unifyport.errors import ApiError
from unifyport.gateway import Gateway
from unifyport.messages import OutgoingMessage
from unifyport.runtime import balance
from unifyport.runtime.forward import unavailable
from unifyport.runtime.supervisor import RuntimeSupervisor

SEND_TIMEOUT = 30.0
FORWARD_SLACK = 5.0
"""Added to an operation's own timeout when it runs in another process."""


def supervisor(gw: Gateway) -> RuntimeSupervisor:
    sup = gw.runtime
    if not isinstance(sup, RuntimeSupervisor):
        raise ApiError(503, "not_ready", "runtime supervisor not running")
    return sup


def register(sup: RuntimeSupervisor) -> None:
    gw = sup.gw
    sup.calls.register("send", lambda account, args: send_here(gw, account, args))
    sup.calls.register("auth_step", lambda account, args: auth_step_here(gw, account, args))


def not_running(account: Account) -> ApiError:
    """Why the account's client cannot be used: stopped (409), or on its way (503, retry)."""
    if account.runtime_desired:
        return unavailable("the account's client is starting or moving between processes; "
                           "retry shortly")
    return ApiError(409, "runtime_not_running", "the account is not online; start its runtime",
                    status=account.runtime_status)


async def on_owner(gw: Gateway, account: Account, operation: str, args: Mapping[str, Any],
                   *, within: float) -> Mapping[str, Any]:
    """Run ``operation`` where the account's client runs: here, or in its owner process."""
    sup = supervisor(gw)
    if sup.is_running(account.id):
        return await sup.calls.handlers[operation](account, args)
    owner, until = account.runtime_owner, account.runtime_lease_until
    if account.runtime_desired and owner not in (None, sup.owner):
        assert owner is not None
        now = utcnow()
        held = until is not None and until > now
        if not held:  # held by its process's liveness, if at all
            async with gw.db.read() as s:
                held = await balance.is_live(s, owner, now, sup.lease_seconds)
        if held:
            return await sup.calls.call(owner, account.id, operation, args,
                                        within=within + FORWARD_SLACK)
    raise not_running(account)


@contextlib.asynccontextmanager
async def client_errors(gw: Gateway, account: Account, seconds: float,
                        gone: ApiError | None = None) -> AsyncIterator[None]:
    """A call on the client running here, bounded by ``seconds``, its failures as API
    errors: a domain error as itself (a client still connecting: 503, retry), no answer in
    time 503 ``provider_unavailable``, and an error of a client that stopped meanwhile
    ``gone`` (default: why the account cannot be used now, from its stored row)."""
    sup = supervisor(gw)
    try:
        with anyio.fail_after(seconds):
            yield
    except StepError as err:
        if err.code == "runtime_not_running":
            raise not_running(account) from None
        raise err.api_error() from None
    except TimeoutError:
        raise ApiError(503, "provider_unavailable", "the provider did not answer in time") from None
    except Exception:
        if sup.is_running(account.id):
            raise
        raise (gone or not_running(await get_account(gw, account.id))) from None


async def send_here(gw: Gateway, account: Account, args: Mapping[str, Any]) -> dict[str, Any]:
    """Send through the client running here; store ``message.sent``; the sent message."""
    outgoing = OutgoingMessage.model_validate(args)
    async with client_errors(gw, account, SEND_TIMEOUT):
        message = (await supervisor(gw).send(account, outgoing)).as_json()
    async with gw.db.write() as s:
        emit(s, "message.sent", account.id, {"provider": account.provider, "message": message})
    return message


async def auth_step(gw: Gateway, account_id: str, step: str, body: Any) -> Mapping[str, Any]:
    """Run an auth step in the process holding the flow (it may keep live state, e.g. a QR
    login's connected client) while that process lives; else here, from the stored flow.
    The step's own read of the account tells which (one read: a QR poll is a hot path)."""
    sup = supervisor(gw)
    args = {"step": step, "body": body}

    async def live_holder(account: Account) -> str | None:
        holder = account.flow_owner
        if holder in (None, sup.owner):
            return None
        async with gw.db.read() as s:
            return holder if await balance.is_live(s, holder, utcnow(), sup.lease_seconds) \
                else None

    try:
        return await _step_here(gw, account_id, args,
                                live_holder if sup.calls.enabled else None)
    except HeldElsewhere as held:
        return await sup.calls.call(held.holder, account_id, "auth_step", args,
                                    within=STEP_TIMEOUT + FORWARD_SLACK)


async def auth_step_here(gw: Gateway, account: Account,
                         args: Mapping[str, Any]) -> dict[str, Any]:
    """A step forwarded here by another process: this one holds the flow."""
    return await _step_here(gw, account.id, args)


async def _step_here(gw: Gateway, account_id: str, args: Mapping[str, Any],
                     elsewhere: Elsewhere | None = None) -> dict[str, Any]:
    outcome = await run_step(gw, account_id, str(args["step"]), args["body"],
                             elsewhere=elsewhere)
    done = outcome.account
    _, mode = resolve_mode(gw, done.provider, done.auth_mode)
    holder = supervisor(gw).owner if done.status in mode.in_progress else None
    if done.flow_owner != holder:
        async with gw.db.write() as s:
            await s.execute(update(Account).where(Account.id == done.id)
                            .values(flow_owner=holder)
                            .execution_options(synchronize_session=False))
    return {"status": done.status, "account": account_json(done), **outcome.response}
