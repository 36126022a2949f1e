"""The messaging surface of an online account: chats, history, attachments, edits,
deletions, reactions and read state (``/v1/accounts/{id}/chats...``), and the body of the
send route (``POST /v1/accounts/{id}/messages``, declared in ``runtime_routes``).

Every operation runs through :meth:`RuntimeSupervisor.call` with the client the account's
runtime attached. The JSON operations (chats, history, edit, delete, reactions, read) are
runtime calls any process answers (``runtime/messaging.py``): a process that does not run the
account's client forwards them to the one that does. Sends with files and attachment
downloads carry byte streams and run only in the owner process (elsewhere: 503
``runtime_unavailable`` with ``Retry-After``, while the account is desired online). A
capability the provider does not declare answers 501 ``not_supported`` before anything else.
Scopes: ``read`` routes are chats, history and attachment downloads; ``send`` routes are
send, edit, delete, reactions and read (declared with ``requires``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response, tag

from unifyport.accounts.service import emit, get_account
from unifyport.auth.results import StepError
from unifyport.db.models import Account
from unifyport.errors import ApiError
from unifyport.http.access import requires
from unifyport.http.body import json_body, query, raw_json, validate
from unifyport.http.context import gateway
from unifyport.http.schemas import (
    ChatList,
    EditMessage,
    MessageList,
    PageQuery,
    ReactionBody,
    ReadBody,
    SendMessage,
)
from unifyport.http.uploads import Spool
from unifyport.messages import AttachmentStream, Message, OutgoingMessage, linked
from unifyport.outbound.policy import OutboundPolicy
from unifyport.providers import NotSupported, Provider, SendContext
from unifyport.runtime import messaging, operations
from unifyport.runtime.supervisor import RuntimeSupervisor

log = logging.getLogger(__name__)
bp = Blueprint("messaging", __name__, url_prefix="/v1/accounts/<account_id>/chats")
T = TypeVar("T")
CALL_TIMEOUT = messaging.CALL_TIMEOUT
"""Longest a provider operation may take (a send with files: ``MEDIA_TIMEOUT``)."""
MEDIA_TIMEOUT = 600.0
MESSAGE = "/<chat_id>/messages/<message_id>"


def supervisor() -> RuntimeSupervisor:
    return operations.supervisor(gateway())


def _provider(account: Account, capability: str) -> Provider | None:
    """The account's provider; 501 ``not_supported`` when it lacks ``capability``."""
    provider = gateway().registry.provider(account.provider)
    if provider is not None and capability not in provider.capabilities:
        raise NotSupported(capability).api_error()
    return provider


async def operate(account: Account, operation: str,
                  fn: Callable[[Provider, SendContext], Awaitable[T]],
                  seconds: float = CALL_TIMEOUT) -> T:
    """Run a provider operation through the supervisor; domain errors become API errors.
    Not running in this process: 409 ``runtime_not_running`` when the account is stopped,
    503 ``runtime_unavailable`` (retry) while its client starts or runs in another process."""
    if not supervisor().is_running(account.id):
        raise operations.not_running(account)
    return await messaging.run_here(gateway(), account, operation, fn, seconds)


# -- read scope ------------------------------------------------------------------------
@bp.get("")
@requires("read")
@tag(["messaging"])
@document_querystring(PageQuery)
@document_response(ChatList)
async def chats(account_id: str) -> dict[str, Any]:
    """The account's chats, newest activity first (capability `chats`)."""
    q = query(PageQuery)
    account = await get_account(gateway(), account_id)
    _provider(account, "chats")
    return await messaging.call(gateway(), account, "list_chats",
                                {"limit": q.limit, "cursor": q.cursor})


@bp.get("/<chat_id>/messages")
@requires("read")
@tag(["messaging"])
@document_querystring(PageQuery)
@document_response(MessageList)
async def history(account_id: str, chat_id: str) -> dict[str, Any]:
    """A chat's messages, newest first, as far back as the channel allows (`history`)."""
    q = query(PageQuery)
    account = await get_account(gateway(), account_id)
    _provider(account, "history")
    return await messaging.call(gateway(), account, "history",
                                {"chat_id": chat_id, "limit": q.limit, "cursor": q.cursor})


@bp.get(MESSAGE + "/attachments/<index>")  # no int converter: it breaks the OpenAPI path
@requires("read")
@tag(["messaging"])
async def attachment(account_id: str, chat_id: str, message_id: str, index: str) -> Response:
    """Stream an attachment's bytes from the channel with its content type (`download`);
    413 `file_too_large` past `messaging.download_max_bytes`."""
    account = await get_account(gateway(), account_id)
    _provider(account, "download")
    if not index.isdigit() or len(index) > 4:
        raise ApiError(404, "attachment_not_found", "attachments are numbered from 0")
    cap = gateway().settings.messaging.download_max_bytes
    stream = await operate(account, "download",
                           lambda p, c: p.download(c, chat_id, message_id, int(index)))
    first = await _first_chunk(stream)  # started, so closing it runs its cleanup
    if stream.size is not None and stream.size > cap:
        await _close(stream)
        raise ApiError(413, "file_too_large", f"the attachment is larger than {cap} bytes",
                       max_bytes=cap)
    headers = {"Cache-Control": "private, max-age=0"}
    if stream.size is not None:
        headers["Content-Length"] = str(stream.size)
    if stream.file_name:
        headers["Content-Disposition"] = \
            f"attachment; filename*=UTF-8''{quote(stream.file_name, safe='')}"
    response = Response(_relay(stream, first, cap), mimetype=stream.mime_type, headers=headers)
    response.timeout = None  # a large file may take long: the client's pace sets it
    return response


async def _close(stream: AttachmentStream) -> None:
    aclose = getattr(stream.chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def _first_chunk(stream: AttachmentStream) -> bytes:
    """The first chunk, read before answering, so a failure to start is still a 4xx/5xx."""
    try:
        with anyio.fail_after(CALL_TIMEOUT):
            return await anext(stream.chunks, b"")
    except StepError as err:
        await _close(stream)
        raise err.api_error() from None
    except TimeoutError:
        await _close(stream)
        raise ApiError(503, "provider_unavailable", "the provider did not answer in time") \
            from None


async def _relay(stream: AttachmentStream, first: bytes, cap: int) -> AsyncIterator[bytes]:
    sent = len(first)
    try:
        if first:
            yield first
        async for chunk in stream.chunks:
            sent += len(chunk)
            if sent > cap:
                log.warning("attachment download cut at the %d-byte cap", cap)
                return
            yield chunk
    except StepError as err:
        log.warning("attachment download failed midway: %s", err.code)
    finally:
        await _close(stream)


# -- send scope ------------------------------------------------------------------------
async def send_message(account_id: str) -> tuple[dict[str, Any], int]:
    """``POST /v1/accounts/{id}/messages``: JSON (text, ``attachments: [{url}]``) or a
    multipart body (fields ``chat_id``, ``text``, ``reply_to_id``, ``kind``; file parts)."""
    gw = gateway()
    multipart = (request.mimetype or "") == "multipart/form-data"
    account = await get_account(gw, account_id)
    provider = gw.registry.provider(account.provider)
    async with Spool(gw.settings.messaging, gw.settings.storage.data_dir) as spool:
        if multipart:
            _provider(account, "media")
            fields, files = await spool.from_multipart()
            fields.pop("kind", None)
            body = validate(SendMessage, fields)
        else:
            body = validate(SendMessage, await raw_json())
            if body.attachments:
                _provider(account, "media")
            files = []
        if not body.text and not files and not body.attachments:
            raise ApiError(422, "validation_failed", "invalid request",
                           fields={"text": "text or an attachment is required"})
        if provider is not None and len(body.text) > provider.text_limit:
            raise ApiError(422, "validation_failed", "invalid request", fields={
                "text": f"at most {provider.text_limit} characters for {provider.name}"})
        supervisor()  # 503 before fetching anything when the runtime is not up
        if body.attachments:
            try:
                files = await spool.from_urls(OutboundPolicy.from_settings(gw.settings),
                                              [a.model_dump() for a in body.attachments])
            except StepError as err:  # url_not_allowed, download_failed
                raise err.api_error() from None
        outgoing = OutgoingMessage(
            chat_id=str(body.chat_id), text=body.text, attachments=files,
            reply_to_id=None if body.reply_to_id is None else str(body.reply_to_id))
        if not files and not supervisor().is_running(account.id):
            # a text send any process answers: the process running the client sends it
            # (and stores ``message.sent``)
            forwarded = await operations.on_owner(gw, account, "send", outgoing.model_dump(),
                                                  within=CALL_TIMEOUT)
            return dict(forwarded), 201
        sent = await operate(account, "send", lambda p, c: p.send(c, outgoing),
                             MEDIA_TIMEOUT if files else CALL_TIMEOUT)
    message = linked(account_id, sent)
    async with gw.db.write() as s:
        emit(s, "message.sent", account_id, {"provider": account.provider, "message": message})
    return message, 201


async def _change(account_id: str, capability: str, operation: str,
                  args: dict[str, Any]) -> dict[str, Any]:
    account = await get_account(gateway(), account_id)
    _provider(account, capability)
    return await messaging.call(gateway(), account, operation, args)


@bp.patch(MESSAGE)
@requires("send")
@tag(["messaging"])
@document_request(EditMessage)
@document_response(Message)
async def edit(account_id: str, chat_id: str, message_id: str) -> dict[str, Any]:
    """Replace the text of an own message (`edit`); emits `message.edited`."""
    body = await json_body(EditMessage)
    return await _change(account_id, "edit", "edit",
                         {"chat_id": chat_id, "message_id": message_id, "text": body.text})


@bp.delete(MESSAGE)
@requires("send")
@tag(["messaging"])
async def delete(account_id: str, chat_id: str, message_id: str) -> tuple[str, int]:
    """Delete a message for everyone (`delete`); emits `message.deleted`."""
    await _change(account_id, "delete", "delete", {"chat_id": chat_id, "message_id": message_id})
    return "", 204


async def _react(account_id: str, chat_id: str, message_id: str, remove: bool) -> tuple[str, int]:
    body = await json_body(ReactionBody)
    await _change(account_id, "react", "react", {"chat_id": chat_id, "message_id": message_id,
                                                 "emoji": body.emoji, "remove": remove})
    return "", 204


@bp.post(MESSAGE + "/reactions")
@requires("send")
@tag(["messaging"])
@document_request(ReactionBody)
async def react(account_id: str, chat_id: str, message_id: str) -> tuple[str, int]:
    """Add the account's reaction `emoji` to a message (`react`)."""
    return await _react(account_id, chat_id, message_id, remove=False)


@bp.delete(MESSAGE + "/reactions")
@requires("send")
@tag(["messaging"])
@document_request(ReactionBody)
async def unreact(account_id: str, chat_id: str, message_id: str) -> tuple[str, int]:
    """Take back the account's reaction `emoji` (`react`)."""
    return await _react(account_id, chat_id, message_id, remove=True)


@bp.post("/<chat_id>/read")
@requires("send")
@tag(["messaging"])
@document_request(ReadBody)
async def read(account_id: str, chat_id: str) -> tuple[str, int]:
    """Mark the chat read up to `message_id` (`read`)."""
    body = await json_body(ReadBody)
    await _change(account_id, "read", "mark_read",
                  {"chat_id": chat_id, "message_id": str(body.message_id)})
    return "", 204
