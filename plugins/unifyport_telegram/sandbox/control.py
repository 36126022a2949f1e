"""Control API (JSON over HTTP on loopback) used by tests to drive the sandbox."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import views
from .delivery import post
from .server import Sandbox
from .state import digits

SANDBOX = web.AppKey("sandbox", Sandbox)
JSONHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class _Bad(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.code = status, code


@web.middleware
async def _errors(request: web.Request, handler: JSONHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Bad as exc:
        return _error(exc.status, exc.code, str(exc))
    except web.HTTPException as exc:
        return _error(exc.status, "not_found" if exc.status == 404 else "http_error", exc.reason)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise _Bad("body must be JSON") from exc


def _field(body: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise _Bad(f"missing field {name!r}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"field {name!r} must be {kind.__name__}")
    return value


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _user_id(request: web.Request) -> int:
    try:
        uid = int(request.match_info["user_id"])
    except ValueError as exc:
        raise _Bad("user id must be an integer") from exc
    if uid not in _sandbox(request).store.users:
        raise _Bad(f"no user {uid}", 404, "not_found")
    return uid


async def create_user(request: web.Request) -> web.Response:
    """``POST /users``."""
    body = await _body(request)
    sb = _sandbox(request)
    bot = bool(body.get("bot", False))
    try:
        user = sb.create_user(
            phone=_field(body, "phone", str, required=not bot) or "",
            first_name=_field(body, "first_name", str),
            last_name=_field(body, "last_name", str, False) or "",
            username=_field(body, "username", str, False) or "",
            password=_field(body, "password", str, False),
            dc_id=_field(body, "dc_id", int, False) or sb.main_dc,
            bot=bot,
        )
    except ValueError as exc:
        raise _Bad(str(exc), 409, "conflict") from exc
    return web.json_response(user.public(), status=201)


async def list_users(request: web.Request) -> web.Response:
    """``GET /users``."""
    return web.json_response([u.public() for u in _sandbox(request).store.users.values()])


async def get_code(request: web.Request) -> web.Response:
    """``GET /codes/{phone}``: the last code sent to a phone."""
    code = _sandbox(request).codes.get(digits(request.match_info["phone"]))
    if code is None:
        raise _Bad("no code was sent to this phone", 404, "not_found")
    return web.json_response(
        {
            "phone": code.phone,
            "code": code.code,
            "phone_code_hash": code.hash,
            "expires_at": code.expires,
            "expired": time.time() > code.expires,
        }
    )


async def expire_code(request: web.Request) -> web.Response:
    """``POST /codes/{phone}/expire``: make the current code expired."""
    code = _sandbox(request).codes.get(digits(request.match_info["phone"]))
    if code is None:
        raise _Bad("no code was sent to this phone", 404, "not_found")
    code.expires = time.time() - 1
    return web.json_response({"phone": code.phone, "expired": True})


def _decode_token(text: str) -> bytes:
    text = text.removeprefix("tg://login?token=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _Bad("token must be base64url") from exc


async def accept_qr(request: web.Request) -> web.Response:
    """``POST /qr/accept {token, user_id}``."""
    body = await _body(request)
    token = _decode_token(_field(body, "token", str))
    uid = _field(body, "user_id", int)
    try:
        tok = _sandbox(request).accept_qr(token, uid)
    except LookupError as exc:
        raise _Bad("token unknown or expired", 410, "token_expired") from exc
    except KeyError as exc:
        raise _Bad(f"no user {uid}", 404, "not_found") from exc
    return web.json_response({"accepted": True, "user_id": uid, "dc_id": tok.dc_id})


def _post_one(sb: Sandbox, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Bad("each message must be an object")
    store = sb.store
    to_id = _field(body, "to_user_id", int)
    from_id = _field(body, "from_user_id", int)
    text = _field(body, "text", str)
    for uid in (to_id, from_id):
        if uid not in store.users:
            raise _Bad(f"no user {uid}", 404, "not_found")
    chat = body.get("chat")
    chat_id = None
    if chat is not None:
        if isinstance(chat, str):
            chat = {"title": chat}
        if not isinstance(chat, dict):
            raise _Bad("chat must be an object {id?, title?}")
        chat_id = chat.get("id")
        if chat_id is None:
            title = chat.get("title") or "Sandbox group"
            found = next((c for c in store.chats.values() if c.title == title), None)
            chat_id = (found or store.create_chat(title)).id
        elif chat_id not in store.chats:
            raise _Bad(f"no chat {chat_id}", 404, "not_found")
    reply_to_id = _field(body, "reply_to_id", int, False)
    reply = (to_id, reply_to_id) if reply_to_id else None
    post(sb, from_id, to_id, text, chat_id, reply_to=reply)
    return views.public_message(store.boxes[to_id][-1])  # the recipient's copy


async def post_messages(request: web.Request) -> web.Response:
    """``POST /messages {to_user_id, from_user_id, text, chat?, reply_to_id?}``, or a list of
    them; returns the recipient's copy. ``reply_to_id`` is a message id in the recipient's box."""
    body = await _body(request)
    sb = _sandbox(request)
    if isinstance(body, list):
        return web.json_response([_post_one(sb, item) for item in body], status=201)
    return web.json_response(_post_one(sb, body), status=201)


async def list_messages(request: web.Request) -> web.Response:
    """``GET /messages?user_id=`` (both received and sent)."""
    store = _sandbox(request).store
    raw = request.query.get("user_id")
    if raw is None:
        boxes = list(store.boxes.values())
    else:
        try:
            boxes = [store.boxes.get(int(raw), [])]
        except ValueError as exc:
            raise _Bad("user_id must be an integer") from exc
    return web.json_response([views.public_message(m) for box in boxes for m in box])


async def add_fault(request: web.Request) -> web.Response:
    """``POST /faults {method, error, times, code?}``."""
    body = await _body(request)
    method = _field(body, "method", str)
    error = _field(body, "error", str)
    times = _field(body, "times", int, False) or 1
    code = _field(body, "code", int, False)
    _sandbox(request).rpc.add_fault(method, error, times, code)
    return web.json_response({"method": method, "error": error, "times": times}, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /faults``."""
    _sandbox(request).rpc.faults.clear()
    return web.json_response({"cleared": True})


async def revoke_sessions(request: web.Request) -> web.Response:
    """``POST /users/{id}/revoke-sessions``: keys answer 401 SESSION_REVOKED."""
    uid = _user_id(request)
    return web.json_response({"revoked": _sandbox(request).revoke_sessions(uid)})


async def forget_keys(request: web.Request) -> web.Response:
    """``POST /users/{id}/forget-keys``: keys answer the -404 transport error."""
    uid = _user_id(request)
    return web.json_response({"forgotten": _sandbox(request).forget_keys(uid)})


async def requests_log(request: web.Request) -> web.Response:
    """``GET /requests[?connection=&dc_id=&user_id=&method=]``: method names per connection."""
    entries = _sandbox(request).rpc.log
    for name in ("connection", "dc_id", "user_id"):
        if name in request.query:
            try:
                wanted = int(request.query[name])
            except ValueError as exc:
                raise _Bad(f"{name} must be an integer") from exc
            entries = [e for e in entries if e.get(name) == wanted]
    if "method" in request.query:
        entries = [e for e in entries if e["method"] == request.query["method"]]
    return web.json_response(entries)


async def key_overlaps(request: web.Request) -> web.Response:
    """``GET /keys/overlaps``: each time an auth key was in use on two connections at once."""
    return web.json_response(list(_sandbox(request).key_overlaps))


async def health(request: web.Request) -> web.Response:
    """``GET /health``: the DCs and counters."""
    sb = _sandbox(request)
    return web.json_response(
        {
            "dcs": {str(dc.id): dc.address for dc in sb.dcs.values()},
            "main_dc": sb.main_dc,
            "connections": len(sb.connections),
            "users": len(sb.store.users),
            "stats": dict(sb.stats),
        }
    )


def make_app(sandbox: Sandbox) -> web.Application:
    """The aiohttp application of the control API."""
    app = web.Application(middlewares=[_errors])
    app[SANDBOX] = sandbox
    app.add_routes(
        [
            web.get("/health", health),
            web.post("/users", create_user),
            web.get("/users", list_users),
            web.post("/users/{user_id}/revoke-sessions", revoke_sessions),
            web.post("/users/{user_id}/forget-keys", forget_keys),
            web.get("/codes/{phone}", get_code),
            web.post("/codes/{phone}/expire", expire_code),
            web.post("/qr/accept", accept_qr),
            web.post("/messages", post_messages),
            web.get("/messages", list_messages),
            web.post("/faults", add_fault),
            web.delete("/faults", clear_faults),
            web.get("/requests", requests_log),
            web.get("/keys/overlaps", key_overlaps),
        ]
    )
    return app


def loopback(host: str) -> str:
    """``host`` if it is a loopback address, else 127.0.0.1 (the control API is never exposed)."""
    try:
        return host if ipaddress.ip_address(host).is_loopback else "127.0.0.1"
    except ValueError:
        return "127.0.0.1" if host != "localhost" else host


async def start_control(sandbox: Sandbox, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve the control API on loopback; returns the runner and its base URL."""
    host = loopback(host)
    runner = web.AppRunner(make_app(sandbox), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound[1]}"
