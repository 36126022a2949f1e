"""``/v1/accounts/{id}/auth/session/*``: the seed's auth steps, dispatched to providers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import document_request, document_response, tag

from unifyport.accounts.views import account_json
from unifyport.auth.service import run_step
from unifyport.auth.states import AuthStep
from unifyport.http.body import raw_json, validate
from unifyport.http.context import gateway
from unifyport.http.schemas import AuthResponse, CodeBody, ImportBody, PasswordBody
from unifyport.outbound.fetch import outbound_for

bp = Blueprint("auth", __name__, url_prefix="/v1/accounts/<account_id>/auth/session")

_BODIES: dict[AuthStep, type[BaseModel]] = {
    AuthStep.CODE: CodeBody,
    AuthStep.PASSWORD: PasswordBody,
    AuthStep.IMPORT: ImportBody,
}


def _route(step: AuthStep) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def handler(account_id: str) -> dict[str, Any]:
        body = await raw_json()
        model = _BODIES.get(step)
        if model is not None:
            body = validate(model, body).model_dump()
        gw = gateway()
        outcome = await run_step(gw, account_id, step, body, outbound_for(gw))
        return {"status": outcome.account.status, "account": account_json(outcome.account),
                **outcome.response}

    handler.__name__ = f"step_{step.name.lower()}"
    handler.__doc__ = f"Auth step `{step.value}` (see docs/auth-state-machine.md)."
    model = _BODIES.get(step)
    wrapped: Any = handler
    if model is not None:
        wrapped = document_request(model)(wrapped)
    wrapped = document_response(AuthResponse)(wrapped)
    wrapped = tag(["auth"])(wrapped)
    bp.add_url_rule(f"/{step.value}", view_func=wrapped, methods=["POST"])
    return handler


for _step in AuthStep:
    _route(_step)
