"""Pytest helpers: run the sandbox in-process and point Telethon / Kurigram clients at it.

async with running_sandbox(tmp_path) as sb:
    user = await sb.control.create_user("+15550001", "Ada")
    client = telethon_client(sb)
    ...
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from .control import start_control
from .server import Sandbox, SandboxOptions

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"


class ControlError(Exception):
    """The control API answered with an error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


class ControlClient:
    """Small async client of the control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        async with self._http.request(method, self.base_url + path, json=body) as resp:
            data = await resp.json()
            if resp.status >= 400:
                raise ControlError(resp.status, data)
            return data

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()

    async def create_user(
        self,
        phone: str,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        password: str | None = None,
        dc_id: int | None = None,
        bot: bool = False,
    ) -> dict[str, Any]:
        """``POST /users``; bots get ``bot_token`` in the answer."""
        body = {
            "phone": phone, "first_name": first_name, "last_name": last_name,
            "username": username, "password": password, "dc_id": dc_id, "bot": bot,
        }  # fmt: skip
        return dict(await self._call("POST", "/users", body))

    async def users(self) -> list[dict[str, Any]]:
        """``GET /users``."""
        return list(await self._call("GET", "/users"))

    async def get_code(self, phone: str) -> str:
        """The last code sent to ``phone``."""
        return str((await self._call("GET", f"/codes/{phone}"))["code"])

    async def expire_code(self, phone: str) -> None:
        """Make the phone's current code expired."""
        await self._call("POST", f"/codes/{phone}/expire")

    async def accept_qr(self, token: str | bytes, user_id: int) -> dict[str, Any]:
        """Accept a login token (base64url text, ``tg://login?token=`` URL or raw bytes)."""
        if isinstance(token, bytes):
            import base64

            token = base64.urlsafe_b64encode(token).decode().rstrip("=")
        return dict(await self._call("POST", "/qr/accept", {"token": token, "user_id": user_id}))

    async def push_message(
        self,
        to_user_id: int,
        from_user_id: int,
        text: str,
        chat: str | dict[str, Any] | None = None,
        reply_to_id: int | None = None,
    ) -> dict[str, Any]:
        """``POST /messages``; returns the recipient's stored copy (``reply_to_id``: an id in
        the recipient's box)."""
        body = {
            "to_user_id": to_user_id, "from_user_id": from_user_id, "text": text,
            "chat": chat, "reply_to_id": reply_to_id,
        }  # fmt: skip
        return dict(await self._call("POST", "/messages", body))

    async def push_messages(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bulk ``POST /messages``."""
        return list(await self._call("POST", "/messages", items))

    async def messages(self, user_id: int | None = None) -> list[dict[str, Any]]:
        """``GET /messages?user_id=``."""
        query = "" if user_id is None else f"?user_id={user_id}"
        return list(await self._call("GET", "/messages" + query))

    async def inject_fault(
        self, method: str, error: str, times: int = 1, code: int | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (e.g. ``auth.sendCode``) with ``error``."""
        body = {"method": method, "error": error, "times": times, "code": code}
        await self._call("POST", "/faults", body)

    async def clear_faults(self) -> None:
        """``DELETE /faults``."""
        await self._call("DELETE", "/faults")

    async def revoke_sessions(self, user_id: int) -> int:
        """Revoke the user's keys (→ 401 SESSION_REVOKED)."""
        return int((await self._call("POST", f"/users/{user_id}/revoke-sessions"))["revoked"])

    async def forget_keys(self, user_id: int) -> int:
        """Forget the user's keys (→ transport error -404)."""
        return int((await self._call("POST", f"/users/{user_id}/forget-keys"))["forgotten"])

    async def requests(self, **filters: int | str) -> list[dict[str, Any]]:
        """``GET /requests``: ``{connection, dc_id, method, user_id, time, error?}`` entries,
        optionally filtered (``connection=``, ``dc_id=``, ``user_id=``, ``method=``)."""
        query = "&".join(f"{k}={urllib.parse.quote(str(v))}" for k, v in filters.items())
        return list(await self._call("GET", "/requests" + (f"?{query}" if query else "")))

    async def key_overlaps(self) -> list[dict[str, Any]]:
        """``GET /keys/overlaps``: ``{key_id, user_id, connections, time}`` each time an
        auth key came to be in use on two connections at once."""
        return list(await self._call("GET", "/keys/overlaps"))


@dataclass
class RunningSandbox:
    """Handle on an in-process sandbox."""

    sandbox: Sandbox
    control_url: str
    control: ControlClient

    @property
    def main_dc(self) -> int:
        """DC id clients start on (2)."""
        return self.sandbox.main_dc

    def dc_address(self, dc_id: int | None = None) -> tuple[str, int]:
        """(host, port) of a DC."""
        dc = self.sandbox.dcs[dc_id or self.main_dc]
        return dc.host, dc.port

    @property
    def dc_addresses(self) -> dict[int, tuple[str, int]]:
        """Every DC's (host, port)."""
        return {i: (dc.host, dc.port) for i, dc in self.sandbox.dcs.items()}

    @property
    def public_key_pem(self) -> bytes:
        """The PEM clients must trust."""
        return self.sandbox.server_key.public_pem

    @property
    def public_key_file(self) -> Path:
        """Path of the PEM file."""
        return self.sandbox.public_key_file


@contextlib.asynccontextmanager
async def running_sandbox(
    state_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    code_ttl: float = 300.0,
    qr_ttl: float = 30.0,
) -> AsyncIterator[RunningSandbox]:
    """Run a sandbox (both DCs and the control API) on free loopback ports."""
    sandbox = Sandbox(Path(state_dir), host=host, options=SandboxOptions(code_ttl, qr_ttl))
    await sandbox.start(port)
    runner: web.AppRunner | None = None
    control: ControlClient | None = None
    try:
        runner, url = await start_control(sandbox, host, 0)
        control = ControlClient(url)
        yield RunningSandbox(sandbox, url, control)
    finally:
        if control is not None:
            await control.close()
        if runner is not None:
            await runner.cleanup()
        await sandbox.stop()


try:  # a ready-made fixture when pytest is around (``pytest_plugins = [this module]``)
    import pytest

    @pytest.fixture
    async def telegram_sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
        """A fresh sandbox per test, state in ``tmp_path``; needs pytest-asyncio."""
        async with running_sandbox(tmp_path / "telegram-sandbox") as sb:
            yield sb

except ImportError:  # pragma: no cover - pytest is a test-only dependency
    pass


# -- Telethon -------------------------------------------------------------------
def trust_telethon(public_key_pem: bytes) -> None:
    """Make Telethon trust only the sandbox key."""
    from telethon.crypto import rsa

    rsa._server_keys.clear()
    rsa.add_key(public_key_pem.decode(), old=False)


def telethon_client(
    sb: RunningSandbox, session: Any = None, *, dc_id: int | None = None, **kwargs: Any
) -> Any:
    """A ``TelegramClient`` pointed at the sandbox (flood sleep threshold 0).

    ``session`` may be a Telethon session object, a string session or a file path; its DC
    (or ``dc_id``, default the main DC) is re-addressed to the sandbox.
    """
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    trust_telethon(sb.public_key_pem)
    if session is None:
        session = StringSession()
    elif isinstance(session, str) and not session.endswith(".session") and len(session) > 100:
        session = StringSession(session)
    kwargs.setdefault("use_ipv6", ":" in sb.dc_address()[0])
    kwargs.setdefault("flood_sleep_threshold", 0)
    kwargs.setdefault("request_retries", 2)
    kwargs.setdefault("connection_retries", 1)
    kwargs.setdefault("retry_delay", 0)
    kwargs.setdefault("receive_updates", True)
    # Telethon caches help.getConfig on the class: a subclass per sandbox keeps the DC
    # addresses of one sandbox from leaking into the clients of the next.
    cls = sb.__dict__.setdefault(
        "_telethon_class", type("SandboxTelegramClient", (TelegramClient,), {"_config": None})
    )
    api_id, api_hash = kwargs.pop("api_id", API_ID), kwargs.pop("api_hash", API_HASH)
    client = cls(session, api_id, api_hash, **kwargs)
    target = dc_id or (client.session.dc_id if client.session.auth_key else None) or sb.main_dc
    host, port = sb.dc_address(target)
    client.session.set_dc(target, host, port)
    return client


# -- Kurigram (pyrogram) ------------------------------------------------------------
def trust_kurigram(public_key_pem: bytes) -> None:
    """Make Kurigram trust only the sandbox key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from pyrogram.crypto import rsa

    from .crypto import ServerKey

    pub = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(pub, RSAPublicKey)
    numbers = pub.public_numbers()
    fingerprint = ServerKey(numbers.n, numbers.e, 0, public_key_pem).fingerprint
    rsa.server_public_keys.clear()
    rsa.server_public_keys[fingerprint] = rsa.PublicKey(numbers.n, numbers.e)


def kurigram_connection_factory(sb: RunningSandbox) -> type:
    """A ``pyrogram.connection.Connection`` subclass that dials the sandbox DCs."""
    from pyrogram.connection import Connection

    addresses = sb.dc_addresses

    class SandboxConnection(Connection):  # type: ignore[misc]
        def __init__(self, dc_id: int, server_address: str, port: int, *a: Any, **kw: Any) -> None:
            host, real_port = addresses.get(dc_id, addresses[sb.main_dc])
            super().__init__(dc_id, host, real_port, *a, **kw)

    return SandboxConnection


def kurigram_client(sb: RunningSandbox, name: str = "sandbox", **kwargs: Any) -> Any:
    """A Kurigram ``Client`` pointed at the sandbox (in memory unless told otherwise,
    ``sleep_threshold=0``)."""
    from pyrogram import Client

    trust_kurigram(sb.public_key_pem)
    kwargs.setdefault("api_id", API_ID)
    kwargs.setdefault("api_hash", API_HASH)
    kwargs.setdefault("sleep_threshold", 0)
    kwargs.setdefault("ipv6", ":" in sb.dc_address()[0])
    if "session_string" not in kwargs and "workdir" not in kwargs:
        kwargs.setdefault("in_memory", True)
    kwargs.setdefault("connection_factory", kurigram_connection_factory(sb))
    return Client(name, **kwargs)


async def kurigram_switch_dc(app: Any, dc_id: int) -> None:
    """Move a connected, logged-out Kurigram client to another DC with a fresh key (what
    Kurigram itself does on PHONE_MIGRATE; needed for ``auth.loginTokenMigrateTo``)."""
    dc_option = await app.get_dc_option(dc_id, ipv6=app.ipv6)
    await app.session.stop()
    app.session = await app.get_session(
        dc_id=dc_id,
        server_address=dc_option.ip_address,
        port=dc_option.port,
        export_authorization=False,
        temporary=True,
    )
    await app.storage.dc_id(dc_id)
    await app.storage.server_address(dc_option.ip_address)
    await app.storage.port(dc_option.port)
    await app.storage.auth_key(app.session.auth_key)


async def kurigram_complete_login(app: Any, authorization: Any) -> int:
    """Record a raw ``auth.Authorization`` in Kurigram's storage (as ``sign_in`` does)."""
    user = authorization.user
    await app.storage.user_id(user.id)
    await app.storage.is_bot(bool(user.bot))
    return int(user.id)


def telethon_session_to_pyrogram(
    dc_id: int, auth_key: bytes, user_id: int, is_bot: bool = False, api_id: int = API_ID
) -> str:
    """A Pyrogram session string for a Telethon key (``>BI?256sQ?``, no ``=`` padding)."""
    import base64
    import struct

    packed = struct.pack(">BI?256sQ?", dc_id, api_id, False, auth_key, user_id, is_bot)
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def pyrogram_session_to_telethon(session_string: str, host: str, port: int) -> str:
    """A Telethon string session for a Pyrogram session string at ``host:port``."""
    import base64
    import ipaddress
    import struct

    raw = base64.urlsafe_b64decode(session_string + "=" * (-len(session_string) % 4))
    dc_id, _api_id, _test, auth_key, _uid, _bot = struct.unpack(">BI?256sQ?", raw)
    ip = ipaddress.ip_address(host).packed
    fmt = ">B4sH256s" if len(ip) == 4 else ">B16sH256s"
    return "1" + base64.urlsafe_b64encode(struct.pack(fmt, dc_id, ip, port, auth_key)).decode()
