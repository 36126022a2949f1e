"""Run one auth step: check it against the mode's declaration, call the provider, persist the
outcome.

The provider computes; the core decides what is stored, which status results and which
events are written (one ``account.auth.state_changed`` per transition, in the same
transaction as the change). A step that changes nothing (a QR poll before the scan) writes
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts.fields import validate_fields
from unifyport.accounts.service import (
    emit,
    get_account_sealed,
    merged_fields,
    open_json,
    resolve_mode,
)
from unifyport.auth.declare import AUTHORIZED, CANCEL, FAILED, PENDING, AuthMode, Step
from unifyport.auth.results import Done, External, Next, StepContext, StepError
from unifyport.auth.states import transition
from unifyport.db.models import Account
from unifyport.db.repositories import AccountRepository, SecretRepository, StaleAccount
from unifyport.errors import ApiError, ErrorKind
from unifyport.gateway import AUTH_FLOW, FIELDS, SESSION, Gateway
from unifyport.providers import Provider

log = logging.getLogger(__name__)
STEP_TIMEOUT = 90.0
"""Upper bound for one provider step; providers time their own network calls out sooner."""


@dataclass(frozen=True)
class StepOutcome:
    account: Account
    response: Mapping[str, Any]


class HeldElsewhere(Exception):
    """The step must run in ``holder``, the process holding the account's login flow
    (raised by :func:`run_step` before it does anything)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


Elsewhere = Callable[[Account], Awaitable[str | None]]
"""Given the account as the step read it, the other process that must run the step, if any."""


def find_step(provider: Provider, mode: AuthMode, name: str) -> Step:
    """The mode's step ``name``; 400 when another mode of the provider has it, else 404."""
    step = mode.step(name)
    if step is not None:
        return step
    for other in provider.auth_modes:
        if other.step(name) is not None:
            raise ApiError(400, "unsupported_auth_mode",
                           f"auth mode {mode.name!r} does not support {name!r}",
                           allowed=sorted(s.name for s in mode.all_steps))
    raise ApiError(404, "not_found", f"no auth step {name!r} for provider {provider.name!r}")


def validate_input(step: Step, mode: AuthMode, body: Mapping[str, Any]) -> dict[str, Any]:
    """The step's body checked against its declared fields (and ``params`` when it takes
    them); 422 ``validation_failed`` with per-field errors."""
    values = dict(body)
    params = values.pop("params", None) if step.params else None
    out = validate_fields(step.fields, None, values)
    if step.params:
        if params is not None and not isinstance(params, dict):
            raise ApiError(422, "validation_failed", "params must be an object",
                           fields={"params": "must be an object"})
        out["params"] = validate_fields(mode.fields, "params", params or {}, require=False)
    return out


def _require_params(mode: AuthMode, params: Mapping[str, Any]) -> None:
    """A step taking ``params`` needs the mode's required ones, from the account or the body."""
    missing = {f"params.{f.name}": "field required" for f in mode.fields
               if f.location == "params" and f.required and params.get(f.name) is None}
    if missing:
        raise ApiError(422, "validation_failed", "invalid fields", fields=missing)


async def run_step(
    gw: Gateway,
    account_id: str,
    name: str,
    body: Mapping[str, Any],
    *,
    elsewhere: Elsewhere | None = None,
) -> StepOutcome:
    """Perform step ``name`` on the account; raises :class:`ApiError` for every refusal,
    :class:`HeldElsewhere` when ``elsewhere`` names a process for the account it read."""
    async with gw.locks.hold(account_id):
        account, (sealed_fields, sealed_flow) = await get_account_sealed(
            gw, account_id, (FIELDS, AUTH_FLOW))  # one read (a QR poll is a hot path)
        if elsewhere is not None and (holder := await elsewhere(account)) is not None:
            raise HeldElsewhere(holder)
        provider, mode = resolve_mode(gw, account.provider, account.auth_mode)
        step = find_step(provider, mode, name)
        status = account.status
        if status not in step.sources:
            raise ApiError(409, "invalid_state",
                           f"{name!r} is not allowed while the account is {status}",
                           status=status)
        step_input = validate_input(step, mode, body)
        if step.name == CANCEL:
            await provider.discard(account_id)
            await _record(gw, account, _cancelled(gw))
            return StepOutcome(account, {})
        provider_data, params = merged_fields(
            account, open_json(gw, account_id, FIELDS, sealed_fields))
        in_progress = status in mode.in_progress
        flow = open_json(gw, account_id, AUTH_FLOW, sealed_flow) if in_progress else {}
        if step.params:
            params = {**params, **step_input.pop("params")}
            _require_params(mode, params)
        ctx = StepContext(
            account_id=account_id, auth_mode=account.auth_mode, step=name, status=status,
            provider_data=provider_data, params=params, flow=flow, input=step_input,
            outbound=gw.outbound,
        )
        try:
            with anyio.fail_after(STEP_TIMEOUT):
                result = await provider.run_step(name, ctx)
        except StepError as err:
            await _record(gw, account, _failure(gw, err, in_progress))
            if err.fail:
                await provider.discard(account_id)
            raise err.api_error(status=account.status) from None
        except TimeoutError:
            timeout = StepError("provider_unavailable", "the provider did not answer in time",
                                kind=ErrorKind.UNAVAILABLE)
            await _record(gw, account, _failure(gw, timeout, in_progress))
            raise timeout.api_error(status=account.status) from None
        to = AUTHORIZED if isinstance(result, Done) else result.status
        if to not in step.targets:
            raise RuntimeError(f"provider {provider.name!r}: step {name!r} led to {to!r}, "
                               f"not one of its declared targets")
        if to not in mode.in_progress:
            await provider.discard(account_id)
        if _changes(account, flow, result):
            await _record(gw, account, _success(gw, mode, status, result))
        return StepOutcome(account, _response(result))


def _response(result: Next | External | Done) -> Mapping[str, Any]:
    if isinstance(result, Next):
        return result.expose
    if isinstance(result, External):
        return {"external": {"url": result.url}}
    return {}


def _changes(account: Account, flow: Mapping[str, Any], result: Next | External | Done) -> bool:
    """Whether the outcome must be written: anything but the same status, flow and no events
    (a poll that found nothing new), or an error to clear."""
    if isinstance(result, Done) or result.events or account.last_error is not None:
        return True
    return result.status != account.status or dict(result.flow or {}) != dict(flow)


Change = Callable[[AsyncSession, Account], Awaitable[None]]


async def _record(gw: Gateway, account: Account, change: Change) -> None:
    """Apply ``change(session, account)`` and save with the optimistic version check."""
    expected = account.version
    try:
        async with gw.db.write() as s:
            await change(s, account)
            await AccountRepository(s).save(account, expected)
    except StaleAccount:
        raise ApiError(409, "conflict", "the account changed concurrently; retry") from None


def _cancelled(gw: Gateway) -> Change:
    async def change(s: AsyncSession, acc: Account) -> None:
        acc.last_error = None
        await SecretRepository(s, gw.box).delete(acc.id, AUTH_FLOW)
        transition(s, acc, PENDING)

    return change


def _success(gw: Gateway, mode: AuthMode, status: str, result: Next | External | Done) -> Change:
    async def change(s: AsyncSession, acc: Account) -> None:
        secrets = SecretRepository(s, gw.box)
        acc.last_error = None
        if isinstance(result, Done):
            await secrets.delete(acc.id, AUTH_FLOW)
            await secrets.put(acc.id, SESSION, result.session)
            acc.identity = result.identity.as_dict()
            transition(s, acc, AUTHORIZED)
        else:
            if result.status in mode.in_progress and result.flow is not None:
                await secrets.put_json(acc.id, AUTH_FLOW, dict(result.flow))
            else:
                await secrets.delete(acc.id, AUTH_FLOW)
            transition(s, acc, result.status)
        for ev in result.events:
            emit(s, ev.type, acc.id, ev.data)
        if isinstance(result, Done) and status != AUTHORIZED:
            emit(s, "account.authorized", acc.id, {"identity": acc.identity})

    return change


def _failure(gw: Gateway, err: StepError, in_progress: bool) -> Change:
    error = err.details()

    async def change(s: AsyncSession, acc: Account) -> None:
        acc.last_error = error
        secrets = SecretRepository(s, gw.box)
        if err.fail:
            await secrets.delete(acc.id, AUTH_FLOW)
            transition(s, acc, FAILED, error)
        elif err.flow is not None and in_progress:
            await secrets.put_json(acc.id, AUTH_FLOW, dict(err.flow))

    return change
