"""RPC dispatch: unwrap ``invokeWith*`` wrappers, log, inject faults, route to handlers.

Each handler module fills its own :class:`HandlerTable` (``HANDLERS``); the server merges
them with :func:`merge` and gives the result to its :class:`Dispatcher`.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject, TLRequest

from .ports import Peer, World
from .state import AuthKey, User

log = logging.getLogger(__name__)

_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
    functions.InvokeWithTakeoutRequest,
)

#: Methods a client may call before it is logged in.
UNAUTHORIZED_OK = {"help", "langpack", "auth"}


class RpcFail(Exception):
    """An ``rpc_error`` answer."""

    def __init__(self, code: int, name: str) -> None:
        super().__init__(f"{code} {name}")
        self.code = code
        self.name = name


def error_code(name: str) -> int:
    """The RPC error code Telegram uses for an error name."""
    if name.startswith(("FLOOD_WAIT_", "FLOOD_PREMIUM_WAIT_", "SLOWMODE_WAIT_")):
        return 420
    if re.match(r"^(PHONE|NETWORK|USER|FILE|STATS)_MIGRATE_\d+$", name):
        return 303
    if name in {
        "AUTH_KEY_UNREGISTERED", "SESSION_REVOKED", "SESSION_EXPIRED", "USER_DEACTIVATED",
        "SESSION_PASSWORD_NEEDED", "AUTH_KEY_INVALID", "USER_DEACTIVATED_BAN",
    }:  # fmt: skip
        return 401
    if name in {"AUTH_KEY_DUPLICATED", "PHONE_PASSWORD_FLOOD", "PHONE_NUMBER_FROZEN"}:
        return 406
    if name.startswith(("INTERNAL", "RPC_CALL_FAIL")):
        return 500
    if name in {"CHAT_WRITE_FORBIDDEN", "USER_PRIVACY_RESTRICTED"}:
        return 403
    return 400


def method_name(request: TLObject) -> str:
    """TL name of a Telethon request class, e.g. ``auth.sendCode``."""
    cls = type(request)
    base = cls.__name__.removesuffix("Request")
    base = base[:1].lower() + base[1:]
    module = cls.__module__.rsplit(".", 1)[-1]
    return base if module == "functions" else f"{module}.{base}"


@dataclass
class Fault:
    """An injected error for the next ``times`` calls of a method."""

    error: str
    times: int
    code: int


@dataclass
class Call:
    """The context handlers receive."""

    sandbox: World
    conn: Peer
    key: AuthKey
    request: Any
    name: str
    layer: int | None = None

    @property
    def dc_id(self) -> int:
        """The data centre the call arrived on."""
        return self.conn.dc.id

    def user(self) -> User:
        """The logged-in user, or the 401 a logged-out key gets."""
        uid = self.key.user_id
        if uid is None or uid not in self.sandbox.store.users:
            raise RpcFail(401, "SESSION_REVOKED" if self.key.revoked else "AUTH_KEY_UNREGISTERED")
        return self.sandbox.store.users[uid]


Handler = Callable[[Call], Any]
H = TypeVar("H", bound=Handler)


class HandlerTable(dict[type, Handler]):
    """One module's handlers by Telethon request class, filled by its :meth:`handles`."""

    def handles(self, *request_types: type) -> Callable[[H], H]:
        """Decorator: answer these request classes with the decorated function."""

        def deco(fn: H) -> H:
            for rt in request_types:
                self[rt] = fn
            return fn

        return deco


def merge(*tables: Mapping[type, Handler]) -> dict[type, Handler]:
    """One table from several; a request class handled twice is a wiring mistake."""
    merged: dict[type, Handler] = {}
    for table in tables:
        twice = merged.keys() & table.keys()
        if twice:
            raise ValueError(f"handled twice: {sorted(t.__name__ for t in twice)}")
        merged.update(table)
    return merged


def serialize(result: Any) -> bytes:
    """TL bytes of a handler's result (objects, ``bool`` and vectors included)."""
    if isinstance(result, bool):
        return struct.pack("<I", 0x997275B5 if result else 0xBC799737)
    if isinstance(result, list):
        items = b"".join(serialize(x) for x in result)
        return struct.pack("<Ii", 0x1CB5C415, len(result)) + items
    if isinstance(result, bytes):
        return result
    return bytes(result)


@dataclass
class Dispatcher:
    """Routes requests of every connection of one sandbox."""

    sandbox: World
    handlers: Mapping[type, Handler]
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)

    def add_fault(self, method: str, error: str, times: int = 1, code: int | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error``."""
        fault = Fault(error, times, code or error_code(error))
        self.faults.setdefault(method, []).append(fault)

    def _fault(self, name: str) -> Fault | None:
        queue = self.faults.get(name)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def log_event(self, conn: Peer, method: str, error: str | None = None) -> dict[str, Any]:
        """Append an entry to the request log."""
        entry: dict[str, Any] = {
            "connection": conn.id,
            "dc_id": conn.dc.id,
            "method": method,
            "user_id": conn.key.user_id if conn.key is not None else None,
            "time": time.time(),
        }
        if error is not None:
            entry["error"] = error
        self.log.append(entry)
        if len(self.log) > 20000:
            del self.log[:10000]
        return entry

    def call(self, conn: Peer, request: Any) -> bytes:
        """Answer one request; always returns the serialised result or ``rpc_error``."""
        key = conn.key
        assert key is not None
        layer = None
        without_updates = False
        while isinstance(request, _WRAPPERS):
            if isinstance(request, functions.InvokeWithLayerRequest):
                layer = request.layer
            if isinstance(request, functions.InvokeWithoutUpdatesRequest):
                without_updates = True
            request = request.query
        if not without_updates:
            conn.wants_updates = True
        name = method_name(request) if isinstance(request, TLRequest) else type(request).__name__
        entry = self.log_event(conn, name)
        try:
            fault = self._fault(name)
            if fault is not None:
                raise RpcFail(fault.code, fault.error)
            ctx = Call(self.sandbox, conn, key, request, name, layer)
            handler = self.handlers.get(type(request))
            if name.split(".")[0] not in UNAUTHORIZED_OK and name != "account.getPassword":
                ctx.user()
            if handler is None:
                raise RpcFail(400, "METHOD_NOT_IMPLEMENTED_IN_SANDBOX")
            return serialize(handler(ctx))
        except RpcFail as fail:
            entry["error"] = fail.name
            return bytes(types.RpcError(fail.code, fail.name))
        except Exception:
            log.exception("handler for %s failed", name)
            # 400, not 500: both libraries silently retry 500s; a sandbox bug must be loud.
            entry["error"] = "SANDBOX_HANDLER_FAILED"
            return bytes(types.RpcError(400, "SANDBOX_HANDLER_FAILED"))
