"""The Telethon implementation of :class:`unifyport_telegram.backend.TelegramClient`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from telethon import TelegramClient as _TelethonClient
from telethon import errors, events, functions, types
from telethon._updates.messagebox import LOG_LEVEL_TRACE, MessageBox
from telethon.crypto import AuthKey, rsa
from telethon.errors.rpcerrorlist import rpc_errors_dict
from telethon.password import compute_check
from telethon.sessions import MemorySession

from ..backend import (
    FileLocation,
    LoginToken,
    Me,
    RawBatch,
    SentCode,
    TelegramClient,
    UpdateCallback,
    bounded,
    display_name,
    tcp_keepalive,
)
from ..config import TelegramConfig
from ..errors import TelegramError, auth_key_unknown, from_failure, from_rpc, unavailable
from ..session_data import SessionData, UpdateState
from . import raw_tl
from .messaging import CHUNK, MessagingCalls, next_or_none, random_id

log = logging.getLogger(__name__)
T = TypeVar("T")
_NAMES: dict[type, str] = {cls: name for name, cls in rpc_errors_dict.items()}


def _trust(pem: bytes | None) -> None:
    """Add the configured server key to Telethon's (process-wide) table; idempotent, and done
    for every client since other code in the process may have reset the table."""
    if pem is not None:
        rsa.add_key(pem.decode(), old=False)


def translate(exc: BaseException) -> TelegramError:
    """The one place Telethon's exceptions become backend-neutral errors."""
    if isinstance(exc, errors.FloodWaitError | errors.FloodPremiumWaitError):
        return from_rpc("FLOOD_WAIT", seconds=exc.seconds)
    if isinstance(exc, errors.RPCError):
        name = _NAMES.get(type(exc)) or str(exc.message or "")
        return from_rpc(name)
    if isinstance(exc, errors.AuthKeyNotFound):
        return auth_key_unknown()
    return from_failure(exc)


def _me(user: Any) -> Me:
    return Me(id=int(user.id), username=user.username,
              display_name=display_name(user.first_name, user.last_name),
              phone=user.phone, is_bot=bool(user.bot))


def _authorization(auth: Any) -> Me:
    if isinstance(auth, types.auth.AuthorizationSignUpRequired):
        raise TelegramError("phone_invalid", "this phone number has no Telegram account")
    return _me(auth.user)


KEEPALIVE_EVERY = 60.0
"""Seconds between the rounds of Telethon's keep-alive loop (its own, hard-coded, value)."""
TIDY_EVERY = 600.0
"""Seconds between its rounds once the heartbeat pings and no other DC's connection is
borrowed (5,000 online clients: 8 wake-ups a second instead of 83)."""


class _Client(_TelethonClient):  # type: ignore[misc]
    """Telethon, but data centres are where the configuration says (Telethon otherwise asks
    ``help.getConfig`` once per process and caches the answer on the class), and its
    keep-alive loop pings only until the runtime's heartbeat takes over (``own_pings``).

    Telethon's loop, every 60 s: a ``ping`` (a second unanswered one reconnects), closing
    idle borrowed connections to other DCs (file downloads), saving its update state and
    entities into the session. Kept: the pings while ``own_pings`` (login flows), the
    clean-up; dropped: the saves (a ``MemorySession`` nobody reads: the runtime keeps the
    update state) and the wait on the ``disconnected`` future (a plain sleep; the loop is
    cancelled at disconnect); without pings and borrowed connections a round comes every
    :data:`TIDY_EVERY` seconds. Its update box is :class:`_UntracedBox` unless the
    ``telethon.messagebox`` logger keeps trace records (level 5) when the client is made."""

    unifyport_cfg: TelegramConfig
    own_pings = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        box_log = self._log["messagebox"]
        if not box_log.isEnabledFor(LOG_LEVEL_TRACE):
            self._message_box = _UntracedBox(box_log)  # still empty: nothing to carry over

    async def _get_dc(self, dc_id: int, cdn: bool = False) -> Any:
        host, port = self.unifyport_cfg.dc_address(dc_id)
        return types.DcOption(id=dc_id, ip_address=host, port=port, ipv6=":" in host)

    async def _keepalive_loop(self) -> None:
        while self.is_connected():
            busy = self.own_pings or self._borrowed_senders
            await asyncio.sleep(KEEPALIVE_EVERY if busy else TIDY_EVERY)
            if self._borrowed_senders:
                await self._clean_exported_senders()
            if self.own_pings and self._sender._transport_connected():
                try:
                    self._sender._keepalive_ping(random_id())
                except ConnectionError:
                    return


class _UntracedBox(MessageBox):  # type: ignore[misc]
    """Telethon's update box, without its trace of every update it handles (~3 calls a
    message, each building its arguments, e.g. a date's isoformat, before the logger drops
    them: ~3% of an inbound message's CPU). Used while trace records are dropped."""

    __slots__ = ()

    def _trace(self, *_args: Any, **_kwargs: Any) -> None:
        pass


def _split(entities: dict[int, Any]) -> tuple[dict[int, Any], dict[int, Any]]:
    users = {e.id: e for e in entities.values() if isinstance(e, types.User)}
    chats = {e.id: e for e in entities.values() if not isinstance(e, types.User)}
    return users, chats


class TelethonClient(MessagingCalls, TelegramClient):
    _t = types

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _trust(self.cfg.server.public_key_pem if self.cfg.server else None)
        session = MemorySession()
        start = self.initial
        dc_id = start.dc_id if start else self.cfg.main_dc
        host, port = self.cfg.dc_address(dc_id)
        session.set_dc(dc_id, host, port)
        if start is not None:
            session.auth_key = AuthKey(start.auth_key)
        self._client = _Client(
            session, self.api_id, self.api_hash, flood_sleep_threshold=0,
            connection_retries=1, retry_delay=0, request_retries=1, auto_reconnect=False,
            timeout=max(1, int(self.cfg.timeout)), sequential_updates=True, catch_up=False,
            receive_updates=True, base_logger="telethon",  # a library: [logging] libraries
        )
        self._client.unifyport_cfg = self.cfg
        self._callback: UpdateCallback | None = None

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            return await bounded(aw, self.cfg.timeout)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise translate(exc) from None

    async def connect(self) -> None:
        await self._call(self._client.connect())
        if not self._client.is_connected():
            raise unavailable("cannot connect to Telegram")

    async def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.disconnect(), 5)
        with contextlib.suppress(Exception):
            # Telethon leaves the reason of a failed connection (e.g. AuthKeyNotFound) in a
            # future nobody awaits; mark it retrieved so asyncio does not report it.
            done = self._client._sender._disconnected
            if done.done() and not done.cancelled():
                done.exception()

    def export_session(self) -> SessionData:
        s = self._client.session
        if s.auth_key is None or s.auth_key.key is None:
            raise TelegramError("invalid_session", "the client has no auth key")
        return SessionData(dc_id=int(s.dc_id), auth_key=bytes(s.auth_key.key),
                           user_id=self._user_id, is_bot=self._is_bot)

    async def send_code(self, phone: str) -> SentCode:
        sent = await self._call(self._client(functions.auth.SendCodeRequest(
            phone, self.api_id, self.api_hash, types.CodeSettings())))
        kind = type(sent.type).__name__.removeprefix("SentCodeType")
        code_type = {"App": "app", "Sms": "sms", "Call": "call", "FlashCall": "flash_call",
                     "MissedCall": "missed_call", "EmailCode": "email",
                     "FragmentSms": "fragment_sms"}.get(kind, kind.lower())
        return SentCode(sent.phone_code_hash, code_type, sent.timeout)

    async def sign_in(self, phone: str, phone_code_hash: str, code: str) -> Me:
        auth = await self._call(self._client(
            functions.auth.SignInRequest(phone, phone_code_hash, code)))
        return self._logged_in(_authorization(auth))

    async def check_password(self, password: str) -> Me:
        params = await self._call(self._client(functions.account.GetPasswordRequest()))
        try:
            check = compute_check(params, password)
        except ValueError as exc:
            raise TelegramError("invalid_password", str(exc)) from None
        auth = await self._call(self._client(functions.auth.CheckPasswordRequest(check)))
        return self._logged_in(_authorization(auth))

    def _login_token(self, res: Any) -> LoginToken:
        if isinstance(res, types.auth.LoginToken):
            return LoginToken(token=bytes(res.token), expires=raw_tl.timestamp(res.expires))
        if isinstance(res, types.auth.LoginTokenMigrateTo):
            return LoginToken(token=bytes(res.token), migrate_dc=int(res.dc_id))
        return LoginToken(me=self._logged_in(_authorization(res.authorization)))

    async def export_login_token(self) -> LoginToken:
        res = await self._call(self._client(functions.auth.ExportLoginTokenRequest(
            self.api_id, self.api_hash, except_ids=[])))
        return self._login_token(res)

    def watch_login_token(self) -> None:
        self._token_seen = False
        self._client.add_event_handler(self._on_login_token, events.Raw(types.UpdateLoginToken))

    async def _on_login_token(self, update: Any) -> None:
        self._token_seen = True

    async def import_login_token(self, dc_id: int, token: bytes) -> LoginToken:
        if self._client.session.dc_id != dc_id:
            host, port = self.cfg.dc_address(dc_id)
            self._client.session.set_dc(dc_id, host, port)
            self._client._sender.auth_key.key = None
            self._client.session.auth_key = None
            await self._call(self._client._disconnect())
            await self.connect()
        res = await self._call(self._client(functions.auth.ImportLoginTokenRequest(token)))
        return self._login_token(res)

    async def sign_in_bot(self, bot_token: str) -> Me:
        auth = await self._call(self._client(functions.auth.ImportBotAuthorizationRequest(
            flags=0, api_id=self.api_id, api_hash=self.api_hash, bot_auth_token=bot_token)))
        return self._logged_in(_authorization(auth))

    async def get_me(self) -> Me:
        users = await self._call(self._client(
            functions.users.GetUsersRequest([types.InputUserSelf()])))
        if not users or isinstance(users[0], types.UserEmpty):
            raise TelegramError("auth_key_unregistered", "the session is not logged in")
        return self._logged_in(_me(users[0]))

    async def get_state(self) -> UpdateState:
        st = await self._call(self._client(functions.updates.GetStateRequest()))
        return UpdateState(pts=st.pts, date=raw_tl.timestamp(st.date), qts=st.qts)

    async def ping(self) -> None:
        await self._call(self._client(functions.PingRequest(random_id())))

    def heartbeat_taken_over(self) -> None:
        self._client.own_pings = False
        writer = getattr(self._client._sender._connection, "_writer", None)
        if writer is not None:
            tcp_keepalive(writer.get_extra_info("socket"))

    async def get_difference(self, state: UpdateState) -> list[RawBatch]:
        def fetch(st: UpdateState) -> Awaitable[Any]:
            return self._call(self._client(functions.updates.GetDifferenceRequest(
                pts=st.pts, date=st.date, qts=st.qts)))

        return await raw_tl.difference(types, fetch, state)

    def on_updates(self, callback: UpdateCallback) -> None:
        self._callback = callback
        self._client.add_event_handler(self._on_raw, events.Raw)

    async def _on_raw(self, update: Any) -> None:
        if self._callback is None or not raw_tl.is_wanted(types, update):
            return
        users, chats = _split(getattr(update, "_entities", {}) or {})
        await self._callback(raw_tl.pushed_batch(types, update, users, chats))

    async def wait_disconnected(self) -> None:
        try:
            await self._client.disconnected
        except Exception as exc:
            raise translate(exc) from None
        err = getattr(self._client, "_updates_error", None)
        if err is not None:
            raise translate(err)

    async def _input_peer(self, chat_id: int) -> Any:
        try:
            return await asyncio.wait_for(self._client.get_input_entity(chat_id),
                                          self.cfg.timeout)
        except Exception:
            return raw_tl.input_peer(types, chat_id)

    async def _rpc(self, name: str, **kwargs: Any) -> Any:
        module, method = name.split(".")
        request = getattr(getattr(functions, module), method + "Request")(**kwargs)
        return await self._call(self._client(request))

    async def iter_file(self, location: FileLocation) -> AsyncIterator[bytes]:
        chunks = self._client.iter_download(
            self._location(location), request_size=CHUNK, file_size=location.size,
            dc_id=location.dc_id)
        try:
            while (chunk := await self._call(next_or_none(chunks))) is not None:
                yield chunk
        finally:
            with contextlib.suppress(Exception):
                await chunks.close()

    async def send_message(self, chat_id: int, text: str, reply_to: int | None) -> RawBatch:
        peer = await self._input_peer(chat_id)
        reply = types.InputReplyToMessage(reply_to) if reply_to else None
        res = await self._call(self._client(functions.messages.SendMessageRequest(
            peer, text, reply_to=reply)))
        return raw_tl.sent_batch(types, res, peer, text, reply_to, self._user_id)

    async def log_out(self) -> None:
        await self._call(self._client(functions.auth.LogOutRequest()))

