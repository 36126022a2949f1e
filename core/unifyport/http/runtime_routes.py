"""``/v1/accounts/{id}/runtime`` and ``/messages``: online clients and sending."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint
from quart_schema import document_request, tag

from unifyport.accounts.service import emit, get_account
from unifyport.accounts.views import runtime_json
from unifyport.errors import ApiError
from unifyport.http.body import json_body
from unifyport.http.context import gateway
from unifyport.http.schemas import SendMessage
from unifyport.providers import StepError
from unifyport.runtime.supervisor import RuntimeSupervisor

bp = Blueprint("runtime", __name__, url_prefix="/v1/accounts/<account_id>")
SEND_TIMEOUT = 30.0


def _supervisor() -> RuntimeSupervisor:
    sup = gateway().runtime
    if sup is None:
        raise ApiError(503, "not_ready", "runtime supervisor not running")
    return sup


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
async def send(account_id: str) -> tuple[dict[str, Any], int]:
    """Send a text message (optionally a reply) through the account's online client."""
    body = await json_body(SendMessage)
    gw = gateway()
    account = await get_account(gw, account_id)
    provider = gw.registry.provider(account.provider)
    if provider is None or not _supervisor().is_running(account_id):
        raise ApiError(409, "runtime_not_running",
                       "the account's client is not running in this process; start its runtime",
                       status=account.runtime_status)
    reply = None if body.reply_to_id is None else str(body.reply_to_id)
    sup = _supervisor()
    try:
        message = await asyncio.wait_for(
            provider.send_message(account_id, str(body.chat_id), body.text, reply), SEND_TIMEOUT
        )
    except StepError as err:
        raise err.api_error() from None
    except TimeoutError:
        raise ApiError(503, "provider_unavailable", "the provider did not answer in time") from None
    except Exception:
        if sup.is_running(account_id):
            raise
        raise ApiError(409, "runtime_not_running", "the account's client stopped while sending",
                       status="stopped") from None
    async with gw.db.write() as s:
        emit(s, "message.sent", account_id, {"provider": account.provider,
                                             "message": dict(message)})
    return dict(message), 201
