"""``/v1/accounts/{id}/runtime`` and ``/messages``: online clients and sending."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from unifyport.accounts.service import get_account
from unifyport.accounts.views import runtime_json
from unifyport.errors import ApiError
from unifyport.http.body import json_body
from unifyport.http.context import gateway
from unifyport.http.schemas import SendMessage, SendResponse
from unifyport.messages import OutgoingMessage
from unifyport.runtime.operations import SEND_TIMEOUT, on_owner, supervisor
from unifyport.runtime.supervisor import RuntimeSupervisor

bp = Blueprint("runtime", __name__, url_prefix="/v1/accounts/<account_id>")


def _supervisor() -> RuntimeSupervisor:
    return supervisor(gateway())


@bp.post("/runtime/start")
@tag(["runtime"])
async def start(account_id: str) -> dict[str, Any]:
    """Bring an authorized account online; it stays online across restarts until stopped."""
    account = await _supervisor().start(account_id)
    return runtime_json(account)


@bp.post("/runtime/stop")
@tag(["runtime"])
async def stop(account_id: str) -> dict[str, Any]:
    """Take the account offline."""
    await get_account(gateway(), account_id)
    await _supervisor().stop(account_id)
    return runtime_json(await get_account(gateway(), account_id))


@bp.get("/runtime")
@tag(["runtime"])
async def status(account_id: str) -> dict[str, Any]:
    """Runtime status: stopped, starting, running, reconnecting or failed."""
    return runtime_json(await get_account(gateway(), account_id))


@bp.post("/messages")
@tag(["messages"])
@document_request(SendMessage)
@document_response(SendResponse, 201)
async def send(account_id: str) -> tuple[dict[str, Any], int]:
    """Send a text message (optionally a reply) through the account's online client, in
    whichever process runs it."""
    body = await json_body(SendMessage)
    gw = gateway()
    account = await get_account(gw, account_id)
    provider = gw.registry.provider(account.provider)
    if provider is not None and len(body.text) > provider.text_limit:
        raise ApiError(422, "validation_failed", "invalid request", fields={
            "text": f"at most {provider.text_limit} characters for {provider.name}"})
    outgoing = OutgoingMessage(
        chat_id=str(body.chat_id), text=body.text,
        reply_to_id=None if body.reply_to_id is None else str(body.reply_to_id))
    message = await on_owner(gw, account, "send", outgoing.model_dump(),
                             within=SEND_TIMEOUT)
    return dict(message), 201
