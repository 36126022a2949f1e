"""The sandbox: two MTProto data centres sharing one world state.

This module wires the parts together: it merges the handler modules' tables into the
dispatcher and serves connections; the parts see it only through :mod:`.ports`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telethon.tl import types

from .actions import HANDLERS as ACTION_HANDLERS
from .auth import HANDLERS as AUTH_HANDLERS
from .connection import Connection
from .crypto import MsgIdGenerator, ServerKey
from .files import HANDLERS as FILE_HANDLERS
from .history import HANDLERS as HISTORY_HANDLERS
from .messages import HANDLERS as MESSAGE_HANDLERS
from .ports import Peer
from .rpc import Dispatcher, merge
from .srp import Challenge, make_verifier
from .state import AuthKey, LoginCode, QrToken, Store, User, digits
from .updates import HANDLERS as UPDATE_HANDLERS
from .views import when

log = logging.getLogger(__name__)

#: Every RPC the sandbox answers, by Telethon request class.
HANDLERS = merge(
    ACTION_HANDLERS, AUTH_HANDLERS, FILE_HANDLERS, HISTORY_HANDLERS, MESSAGE_HANDLERS,
    UPDATE_HANDLERS,
)

MAIN_DC = 2
OTHER_DC = 1


@dataclass
class DataCenter:
    """One listening MTProto endpoint."""

    sandbox: Sandbox
    id: int
    host: str
    port: int = 0
    server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        """``HOST:PORT`` (``[HOST]:PORT`` for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass
class SandboxOptions:
    """Tunables (lifetimes are shortened in tests)."""

    code_ttl: float = 300.0
    qr_ttl: float = 30.0
    flush_interval: float = 0.5


@dataclass
class Sandbox:
    """The whole server: state, DCs, dispatcher; the control API wraps it."""

    state_dir: Path
    host: str = "127.0.0.1"
    options: SandboxOptions = field(default_factory=SandboxOptions)

    def __post_init__(self) -> None:
        if self.host == "localhost":  # one address, so both DCs get one port each
            self.host = "127.0.0.1"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.server_key = ServerKey.load_or_create(self.state_dir)
        self.store = Store(self.state_dir)
        self.msg_ids = MsgIdGenerator()
        self.rpc = Dispatcher(self, HANDLERS)
        self.dcs: dict[int, DataCenter] = {
            MAIN_DC: DataCenter(self, MAIN_DC, self.host),
            OTHER_DC: DataCenter(self, OTHER_DC, self.host),
        }
        self.codes: dict[str, LoginCode] = {}
        self.qr_tokens: dict[bytes, QrToken] = {}
        self.qr_by_key: dict[int, QrToken] = {}
        self.srp_challenges: dict[int, Challenge] = {}
        self.pending_2fa: dict[int, int] = {}
        self.random_ids: dict[int, set[int]] = {}  # per sender, for RANDOM_ID_DUPLICATE
        self.pinned: dict[int, list[tuple[str, int]]] = {}  # pinned dialogs (in memory)
        # Held as ports.Peer: what the dispatcher and the handlers also see of a connection.
        self.conns_by_key: dict[int, set[Peer]] = {}
        self.connections: set[Peer] = set()
        self.key_overlaps: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
        """Each time an auth key came to be in use on two connections at once (a session
        run by two clients, e.g. from two processes): ``GET /keys/overlaps``."""
        self._sessions: set[tuple[int, int]] = set()
        self.stats: collections.Counter[str] = collections.Counter()
        self._flusher: asyncio.Task[None] | None = None
        self.user_keys: dict[int, set[int]] = {}
        for key in self.store.keys.values():
            if key.user_id is not None:
                self.user_keys.setdefault(key.user_id, set()).add(key.key_id)

    @property
    def main_dc(self) -> int:
        """The DC clients connect to first."""
        return MAIN_DC

    @property
    def public_key_file(self) -> Path:
        """PEM (PKCS#1) of the key clients must trust."""
        return self.state_dir / "public.pem"

    # -- life cycle ----------------------------------------------------------
    async def start(self, port: int = 0, other_port: int | None = None) -> None:
        """Listen on both DCs (``port`` for the main DC 2)."""
        ports = {
            MAIN_DC: port,
            OTHER_DC: (port + 1 if port else 0) if other_port is None else other_port,
        }
        for dc in self.dcs.values():
            dc.server = await asyncio.start_server(
                functools.partial(self._serve, dc), self.host, ports[dc.id]
            )
            dc.port = dc.server.sockets[0].getsockname()[1]
        self._flusher = asyncio.create_task(self._flush_loop())

    async def stop(self) -> None:
        """Close every connection and listener, then save the state."""
        for dc in self.dcs.values():
            if dc.server is not None:
                dc.server.close()
        for conn in list(self.connections):
            conn.close()
        for dc in self.dcs.values():
            if dc.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(dc.server.wait_closed(), 2)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        self.store.save()

    async def _serve(
        self, dc: DataCenter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = Connection(dc, reader, writer)
        self.connections.add(conn)
        await conn.serve()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.flush_interval)
            if self.store.pending:
                self.store.save()

    # -- connection registry ---------------------------------------------------
    def attach(self, conn: Peer, previous: AuthKey | None = None) -> None:
        """Index a connection under the key it uses (moving it off ``previous``)."""
        assert conn.key is not None
        if previous is not None:
            self.conns_by_key.get(previous.key_id, set()).discard(conn)
        conns = self.conns_by_key.setdefault(conn.key.key_id, set())
        conns.add(conn)
        if len(conns) > 1:
            self.key_overlaps.append({"key_id": str(conn.key.key_id),
                                      "user_id": conn.key.user_id,
                                      "connections": sorted(c.id for c in conns),
                                      "time": time.time()})

    def detach(self, conn: Peer) -> None:
        """Forget a closed connection."""
        self.connections.discard(conn)
        if conn.key is not None:
            self.conns_by_key.get(conn.key.key_id, set()).discard(conn)

    def new_session(self, key_id: int, session_id: int) -> bool:
        """True the first time a (key, session id) pair is seen."""
        pair = (key_id, session_id)
        if pair in self._sessions:
            return False
        if len(self._sessions) > 100_000:  # bounded memory in a long-running sandbox
            self._sessions.clear()
        self._sessions.add(pair)
        self.stats["sessions"] += 1
        return True

    # -- keys ------------------------------------------------------------------
    def bind_key(self, key: AuthKey, user_id: int) -> None:
        """Log a key in as ``user_id``."""
        if key.user_id is not None:
            self.user_keys.get(key.user_id, set()).discard(key.key_id)
        key.user_id = user_id
        key.revoked = False
        self.user_keys.setdefault(user_id, set()).add(key.key_id)
        self.pending_2fa.pop(key.key_id, None)
        self.store.dirty = True

    def unbind_key(self, key: AuthKey, *, revoked: bool) -> None:
        """Log a key out (``revoked``: answered with SESSION_REVOKED from now on)."""
        if key.user_id is not None:
            self.user_keys.get(key.user_id, set()).discard(key.key_id)
        key.user_id = None
        key.revoked = revoked
        self.store.dirty = True

    def revoke_sessions(self, user_id: int) -> int:
        """Revoke every key of a user (calls then get 401 SESSION_REVOKED)."""
        keys = self.store.keys_of(user_id)
        for key in keys:
            self.unbind_key(key, revoked=True)
        return len(keys)

    def forget_keys(self, user_id: int) -> int:
        """Delete every key of a user: the next packet gets the -404 transport error."""
        keys = self.store.keys_of(user_id)
        self.user_keys.pop(user_id, None)
        for key in keys:
            del self.store.keys[key.key_id]
            for conn in list(self.conns_by_key.pop(key.key_id, ())):
                conn.transport_error(-404)
        self.store.dirty = True
        return len(keys)

    # -- codes and QR tokens -----------------------------------------------------
    def issue_code(self, phone: str, code_hash: str | None = None) -> LoginCode:
        """Make a fresh code for a phone."""
        code = LoginCode(
            phone=digits(phone),
            code=f"{secrets.randbelow(90000) + 10000}",
            hash=code_hash or secrets.token_hex(9),
            expires=time.time() + self.options.code_ttl,
        )
        self.codes[code.phone] = code
        return code

    def new_qr(self, key_id: int, dc_id: int) -> QrToken:
        """A new login token for a key (replacing its previous one)."""
        old = self.qr_by_key.pop(key_id, None)
        if old is not None:
            self.qr_tokens.pop(old.token, None)
        tok = QrToken(os.urandom(32), key_id, dc_id, time.time() + self.options.qr_ttl)
        self.qr_tokens[tok.token] = tok
        self.qr_by_key[key_id] = tok
        return tok

    def drop_qr(self, tok: QrToken) -> None:
        """Forget a used token."""
        self.qr_tokens.pop(tok.token, None)
        if self.qr_by_key.get(tok.key_id) is tok:
            del self.qr_by_key[tok.key_id]

    def accept_qr(self, token: bytes, user_id: int) -> QrToken:
        """What scanning the QR code on a logged-in phone does; pushes ``updateLoginToken``."""
        tok = self.qr_tokens.get(token)
        if tok is None or time.time() > tok.expires:
            raise LookupError("token unknown or expired")
        if user_id not in self.store.users:
            raise KeyError(user_id)
        tok.accepted_user = user_id
        update = types.UpdateShort(update=types.UpdateLoginToken(), date=when(time.time()))
        self.push_to_key(tok.key_id, bytes(update))
        return tok

    # -- users and messages ------------------------------------------------------
    def create_user(
        self,
        phone: str,
        first_name: str,
        last_name: str = "",
        username: str = "",
        password: str | None = None,
        dc_id: int = MAIN_DC,
        bot: bool = False,
    ) -> User:
        """Create an account (with 2FA when ``password`` is given)."""
        if dc_id not in self.dcs:
            raise ValueError(f"dc_id must be one of {sorted(self.dcs)}")
        user = self.store.create_user(phone, first_name, last_name, username, dc_id, bot)
        if password:
            salt1, salt2, v = make_verifier(password)
            user.srp_salt1, user.srp_salt2, user.srp_verifier = salt1.hex(), salt2.hex(), f"{v:x}"
        return user

    def push_to_key(self, key_id: int, body: bytes) -> None:
        """Send a server-initiated message to every live connection of a key."""
        for conn in list(self.conns_by_key.get(key_id, ())):
            if conn.wants_updates:
                conn.send(body, response=False)
