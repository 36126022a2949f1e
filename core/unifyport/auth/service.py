"""Run one auth step: check the transition table, call the provider, persist the outcome.

The provider computes; the core decides what is stored, which status results and which
events are written (one ``account.auth.state_changed`` per transition, in the same
transaction as the change).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts.fields import validate_fields
from unifyport.accounts.service import emit, get_account, load_fields, resolve_mode
from unifyport.auth.states import IN_PROGRESS, TRANSITIONS, AuthStatus, AuthStep, can_call
from unifyport.db.models import Account
from unifyport.db.repositories import AccountRepository, SecretRepository, StaleAccount
from unifyport.errors import ApiError
from unifyport.gateway import AUTH_FLOW, SESSION, Gateway
from unifyport.providers import Outbound, StepContext, StepError, StepResult

log = logging.getLogger(__name__)
STEP_TIMEOUT = 90.0
"""Upper bound for one provider step; providers time their own network calls out sooner."""

_INPUT_FIELDS: dict[AuthStep, str] = {AuthStep.CODE: "code", AuthStep.PASSWORD: "password"}


@dataclass(frozen=True)
class StepOutcome:
    account: Account
    response: Mapping[str, Any]


async def run_step(
    gw: Gateway,
    account_id: str,
    step: AuthStep,
    body: Mapping[str, Any],
    outbound: Outbound | None = None,
) -> StepOutcome:
    """Perform ``step`` on the account; raises :class:`ApiError` for every refusal."""
    async with gw.locks.hold(account_id):
        account = await get_account(gw, account_id)
        provider, mode = resolve_mode(gw, account.provider, account.auth_mode)
        if step is not AuthStep.CANCEL and step not in mode.steps:
            raise ApiError(400, "unsupported_auth_mode",
                           f"auth mode {account.auth_mode!r} does not support {step.value!r}",
                           allowed=sorted(s.value for s in mode.steps))
        status = AuthStatus(account.status)
        if not can_call(step, status):
            raise ApiError(409, "invalid_state",
                           f"{step.value!r} is not allowed while the account is {status.value}",
                           status=status.value)
        step_input = _validate_input(step, body, mode.fields)
        async with gw.db.read() as s:
            provider_data, params = await load_fields(gw, s, account)
            flow = (await SecretRepository(s, gw.box).get_json(account_id, AUTH_FLOW)
                    if status in IN_PROGRESS else {})
        if step is AuthStep.IMPORT:
            params = {**params, **step_input.get("params", {})}
        ctx = StepContext(
            account_id=account_id, auth_mode=account.auth_mode, status=status,
            provider_data=provider_data, params=params, flow=flow, input=step_input,
            outbound=outbound,
        )
        try:
            result = await asyncio.wait_for(provider.run_step(step, ctx), STEP_TIMEOUT)
        except StepError as err:
            if step is AuthStep.CANCEL:
                result = StepResult(AuthStatus.PENDING)
            else:
                await _record_failure(gw, account, err)
                raise err.api_error(status=account.status) from None
        except TimeoutError:
            timeout = StepError("provider_unavailable", "the provider did not answer in time",
                                http_status=503)
            await _record_failure(gw, account, timeout)
            raise timeout.api_error(status=account.status) from None
        if result.status not in TRANSITIONS[step].targets:
            raise RuntimeError(f"provider {provider.name!r} returned {result.status} for {step}")
        await _record_success(gw, account, status, result)
        return StepOutcome(account, result.response)


def _validate_input(step: AuthStep, body: Mapping[str, Any], fields: Any) -> dict[str, Any]:
    name = _INPUT_FIELDS.get(step)
    if name is not None:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ApiError(422, "validation_failed", f"{name} is required",
                           fields={name: "field required"})
        return {name: value.strip()}
    if step is AuthStep.IMPORT:
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ApiError(422, "validation_failed", "params must be an object",
                           fields={"params": "must be an object"})
        return {"params": validate_fields(fields, "params", params)}
    return {}


async def _write(gw: Gateway, account: Account, change: Any) -> None:
    """Apply ``change(session, account)`` and save with the optimistic version check."""
    expected = account.version
    try:
        async with gw.db.write() as s:
            await change(s, account)
            await AccountRepository(s).save(account, expected)
    except StaleAccount:
        raise ApiError(409, "conflict", "the account changed concurrently; retry") from None


def _transition(s: AsyncSession, account: Account, to: AuthStatus,
                error: Mapping[str, Any] | None = None) -> None:
    frm = account.status
    if frm == to.value:
        return
    account.status = to.value
    data: dict[str, Any] = {"from": frm, "to": to.value}
    if error is not None:
        data["error"] = dict(error)
    emit(s, "account.auth.state_changed", account.id, data)


async def _record_success(
    gw: Gateway, account: Account, status: AuthStatus, result: StepResult
) -> None:
    async def change(s: AsyncSession, acc: Account) -> None:
        secrets = SecretRepository(s, gw.box)
        acc.last_error = None
        if result.status in IN_PROGRESS and result.flow is not None:
            await secrets.put_json(acc.id, AUTH_FLOW, dict(result.flow))
        else:
            await secrets.delete(acc.id, AUTH_FLOW)
        if result.session is not None:
            await secrets.put(acc.id, SESSION, result.session)
        if result.identity is not None:
            acc.identity = result.identity.as_dict()
        _transition(s, acc, result.status)
        for ev in result.events:
            emit(s, ev.type, acc.id, ev.data)
        if result.status is AuthStatus.AUTHORIZED and status is not AuthStatus.AUTHORIZED:
            emit(s, "account.authorized", acc.id, {"identity": acc.identity})

    await _write(gw, account, change)


async def _record_failure(gw: Gateway, account: Account, err: StepError) -> None:
    error = err.details()

    async def change(s: AsyncSession, acc: Account) -> None:
        acc.last_error = error
        secrets = SecretRepository(s, gw.box)
        if err.fail:
            await secrets.delete(acc.id, AUTH_FLOW)
            _transition(s, acc, AuthStatus.FAILED, error)
        elif err.flow is not None:
            await secrets.put_json(acc.id, AUTH_FLOW, dict(err.flow))

    await _write(gw, account, change)
