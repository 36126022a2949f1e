"""The mautrix adapter: the only module that imports the client library. Its exceptions are
translated into domain errors here, once; every connection goes through the core's
outbound-URL policy (the homeserver is user input)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import aiohttp
from mautrix.api import HTTPAPI, Method, Path
from mautrix.client import ClientAPI
from mautrix.errors import (
    MatrixConnectionError,
    MatrixRequestError,
    MForbidden,
    MLimitExceeded,
    MUnknownToken,
    MUserDeactivated,
)
from mautrix.types import DeviceID, EventType, SyncToken, UserID

from unifyport.sdk import ErrorKind, Outbound, StepError

from .config import MatrixConfig
from .session import MatrixSession

DEVICE_NAME = "UnifyPort"
SYNC_FILTER = json.dumps({
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {"timeline": {"types": ["m.room.message", "m.room.encrypted", "m.reaction",
                                    "m.room.redaction"]},
             "state": {"types": []}, "ephemeral": {"types": ["m.receipt"]},
             "account_data": {"types": []}},
})
"""Messages, reactions, redactions and read receipts; invites arrive regardless."""
MESSAGES = {"types": ["m.room.message", "m.room.encrypted"]}
CHATS_FILTER = json.dumps({
    "presence": {"types": []}, "account_data": {"types": []},
    "room": {"timeline": {"limit": 1, **MESSAGES}, "ephemeral": {"types": []},
             "state": {"types": ["m.room.name", "m.room.create"], "lazy_load_members": True},
             "account_data": {"types": []}},
})
"""For the chat list: each joined room's name, its latest message and unread count."""
CHUNK = 256 * 1024
FIRST_FILTER = json.dumps({"room": {"timeline": {"limit": 1}, "state": {"types": []}},
                           "presence": {"types": []}})
"""At login: the sync token only (history before the login is not replayed)."""


class Revoked(Exception):
    """The homeserver no longer accepts the access token."""


def translate(exc: BaseException, *, login: bool = False) -> BaseException:
    """The domain error for a failed homeserver call."""
    if isinstance(exc, MUnknownToken | MUserDeactivated):
        return Revoked(str(exc))
    if isinstance(exc, MForbidden) and login:
        return StepError("invalid_password", "the homeserver refused the user or password",
                         fail=True)
    if isinstance(exc, MLimitExceeded):
        wait = int((getattr(exc, "retry_after_ms", None) or 1000) / 1000) or 1
        return StepError("flood_wait", f"the homeserver asks to wait {wait} s", retry_after=wait)
    if isinstance(exc, MatrixRequestError):
        return StepError("provider_unavailable", f"homeserver error {exc.errcode}: {exc.message}",
                         kind=ErrorKind.UPSTREAM)
    if isinstance(exc, MatrixConnectionError | aiohttp.ClientError | OSError | TimeoutError):
        return StepError("provider_unavailable",
                         f"cannot reach the homeserver: {type(exc).__name__}",
                         kind=ErrorKind.UNAVAILABLE)
    return exc


@contextlib.asynccontextmanager
async def connected(outbound: Outbound, cfg: MatrixConfig, homeserver: str, token: str = "",
                    user_id: str = "", device_id: str = "") -> AsyncIterator[ClientAPI]:
    """A client on its own HTTP session whose connector enforces the outbound policy."""
    url = outbound.check_url(homeserver)
    timeout = aiohttp.ClientTimeout(total=cfg.sync_timeout + cfg.request_timeout,
                                    connect=cfg.request_timeout)
    async with aiohttp.ClientSession(connector=outbound.connector(), timeout=timeout) as http:
        api = HTTPAPI(url, token, client_session=http, default_retry_count=0)
        yield ClientAPI(UserID(user_id), DeviceID(device_id), api=api)


async def call(coro: Any, *, login: bool = False) -> Any:
    """Await a homeserver call, translating its failure."""
    try:
        return await coro
    except StepError:
        raise
    except Exception as exc:
        raise translate(exc, login=login) from None


async def password_login(client: ClientAPI, user: str, password: str) -> MatrixSession:
    resp = await call(client.login(identifier=UserID(user),
                                   password=password, device_name=DEVICE_NAME), login=True)
    return MatrixSession(str(client.api.base_url), str(resp.user_id), str(resp.device_id),
                         str(resp.access_token))


async def whoami(client: ClientAPI, homeserver: str, token: str,
                 device_id: str | None) -> MatrixSession:
    try:
        who = await call(client.whoami())
    except Revoked:
        raise StepError("invalid_session", "the homeserver does not accept this access token",
                        kind=ErrorKind.INVALID) from None
    return MatrixSession(homeserver, str(who.user_id), str(device_id or who.device_id or ""),
                         token)


async def sync(client: ClientAPI, since: str | None, timeout_ms: int,
               first: bool = False) -> dict[str, Any]:
    data = await call(client.sync(since=None if since is None else SyncToken(since),
                                  timeout=timeout_ms,
                                  filter_id=FIRST_FILTER if first else SYNC_FILTER))  # type: ignore[arg-type]
    return dict(data)


async def send_text(client: ClientAPI, room: str, text: str, reply_to: str | None) -> str:
    content: dict[str, Any] = {"msgtype": "m.text", "body": text}
    if reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    event_id = await call(client.send_message_event(room, EventType.ROOM_MESSAGE, content))  # type: ignore[arg-type]
    return str(event_id)


async def join(client: ClientAPI, room: str) -> None:
    await call(client.join_room(room, max_retries=0))  # type: ignore[arg-type]


async def logout(client: ClientAPI) -> None:
    await call(client.logout())


async def chats(client: ClientAPI) -> dict[str, Any]:
    """A full-state sync of every joined room with its latest message (no long poll)."""
    data = await call(client.sync(timeout=0, full_state=True,
                                  filter_id=CHATS_FILTER))  # type: ignore[arg-type]
    return dict(data)


async def messages(client: ClientAPI, room: str, limit: int, token: str | None) -> dict[str, Any]:
    """A page of ``/messages`` backwards from ``token`` (the newest when ``None``)."""
    query = {"dir": "b", "limit": str(limit), "filter": json.dumps(MESSAGES)}
    if token:
        query["from"] = token
    try:
        return dict(await client.api.request(Method.GET, Path.v3.rooms[room].messages,
                                             query_params=query))
    except MatrixRequestError as exc:
        if token and exc.http_status == 400:
            raise StepError("invalid_cursor", "not a cursor of this chat's history") from None
        raise translate(exc) from None
    except Exception as exc:
        raise translate(exc) from None


async def event(client: ClientAPI, room: str, event_id: str) -> dict[str, Any]:
    return dict(await call(client.api.request(Method.GET,
                                              Path.v3.rooms[room].event[event_id])))


async def send_event(client: ClientAPI, room: str, type: str, content: dict[str, Any]) -> str:
    event_id = await call(client.send_message_event(
        room, EventType.find(type), content))  # type: ignore[arg-type]
    return str(event_id)


async def upload(client: ClientAPI, chunks: AsyncIterable[bytes], mime_type: str,
                 file_name: str, size: int) -> str:
    """Stream a file to the media repository; its ``mxc://`` URI."""
    uri = await call(client.upload_media(chunks, mime_type=mime_type, filename=file_name,
                                         size=size))
    return str(uri)


async def download(client: ClientAPI, mxc: str) -> AsyncIterator[bytes]:
    """The bytes of an ``mxc://`` URI in chunks, through the authenticated media API."""
    server, _, media = mxc.removeprefix("mxc://").partition("/")
    if not server or not media or "/" in media:
        raise StepError("attachment_not_found", "the message's file has no valid mxc:// URI")
    url = client.api.base_url / "_matrix/client/v1/media/download" / server / media
    try:
        async with client.api.session.get(url, headers={
                "Authorization": f"Bearer {client.api.token}"}) as resp:
            if resp.status == 404:
                raise StepError("attachment_not_found", "the homeserver has no such file")
            if resp.status != 200:
                raise StepError("provider_unavailable", f"media download: HTTP {resp.status}",
                                kind=ErrorKind.UPSTREAM)
            async for chunk in resp.content.iter_chunked(CHUNK):
                yield chunk
    except StepError:
        raise
    except Exception as exc:
        raise translate(exc) from None


async def redact(client: ClientAPI, room: str, event_id: str) -> None:
    await call(client.redact(room, event_id))  # type: ignore[arg-type]


async def own_reactions(client: ClientAPI, room: str, event_id: str,
                        own: str) -> list[dict[str, Any]]:
    """This user's ``m.reaction`` events on ``event_id``."""
    path = Path.v1.rooms[room].relations[event_id]["m.annotation"]["m.reaction"]
    data = await call(client.api.request(Method.GET, path, query_params={"limit": "100"}))
    return [e for e in data.get("chunk") or [] if e.get("sender") == own]


async def receipt(client: ClientAPI, room: str, event_id: str) -> None:
    """A read receipt and the fully-read marker at ``event_id``."""
    await call(client.api.request(Method.POST, Path.v3.rooms[room].read_markers, content={
        "m.fully_read": event_id, "m.read": event_id}))
