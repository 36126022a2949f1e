"""``/v1/accounts/{id}/runtime`` and ``/messages``: online clients and sending."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from unifyport.accounts.service import get_account
from unifyport.accounts.views import runtime_json
from unifyport.http.access import requires
from unifyport.http.context import gateway
from unifyport.http.messaging_routes import send_message
from unifyport.http.messaging_routes import supervisor as _supervisor
from unifyport.http.schemas import SendMessage, SendResponse

bp = Blueprint("runtime", __name__, url_prefix="/v1/accounts/<account_id>")


@bp.post("/runtime/start")
@tag(["runtime"])
@requires("control")
async def start(account_id: str) -> dict[str, Any]:
    """Bring an authorized account online; it stays online across restarts until stopped."""
    account = await _supervisor().start(account_id)
    return runtime_json(account)


@bp.post("/runtime/stop")
@tag(["runtime"])
@requires("control")
async def stop(account_id: str) -> dict[str, Any]:
    """Take the account offline."""
    await get_account(gateway(), account_id)
    await _supervisor().stop(account_id)
    return runtime_json(await get_account(gateway(), account_id))


@bp.get("/runtime")
@tag(["runtime"])
@requires("read")
async def status(account_id: str) -> dict[str, Any]:
    """Runtime status: stopped, starting, running, reconnecting or failed."""
    return runtime_json(await get_account(gateway(), account_id))


@bp.post("/messages")
@tag(["messages"])
@requires("send")
@document_request(SendMessage)
@document_response(SendResponse, 201)
async def send(account_id: str) -> tuple[dict[str, Any], int]:
    """Send a message (optionally a reply) through the account's online client: text, or
    files with a caption (capability `media`) as `attachments: [{url}]` or a multipart body
    (fields `chat_id`, `text`, `reply_to_id`, `kind`; one file part per file)."""
    return await send_message(account_id)
