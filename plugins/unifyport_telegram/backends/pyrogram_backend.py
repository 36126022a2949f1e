"""The Pyrogram (Kurigram) implementation of
:class:`unifyport_telegram.backend.TelegramClient`.

Kurigram does not surface the transport error -404 to a pending call (the call hangs), keeps
DC addresses in a hard-coded table and retries on its own; hence a connection class that dials
the configured addresses, a timeout on every call, and a look at the receive task's fate.

Kurigram's periodic work per client, and what is left of it here: its ping task
(``ping_delay_disconnect`` every ``PING_INTERVAL``) runs only until the runtime's heartbeat
takes over (``pyrogram_setup.stop_pings``); the updates watchdog (``updates.getState`` after
15 idle minutes) stays; the end of the receive task (a dead key) is told by a callback, not
polled for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

from pyrogram import Client, enums, handlers, raw
from pyrogram import errors as perrors
from pyrogram.file_id import FileId, FileType, ThumbnailSource
from pyrogram.session.session import AuthKeyNotFound, Session

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
)
from ..errors import TelegramError, auth_key_unknown, from_failure, from_rpc, unavailable
from ..session_data import SessionData, UpdateState
from . import raw_tl
from .messaging import MessagingCalls, next_or_none, random_id
from .pyrogram_setup import connection_class, keep_alive, stop_pings, trust
from .pyrogram_storage import MemoryStorage

log = logging.getLogger(__name__)
T = TypeVar("T")
_CODE_TYPES = {enums.SentCodeType.APP: "app", enums.SentCodeType.SMS: "sms",
               enums.SentCodeType.CALL: "call", enums.SentCodeType.FLASH_CALL: "flash_call",
               enums.SentCodeType.MISSED_CALL: "missed_call",
               enums.SentCodeType.FRAGMENT_SMS: "fragment_sms"}


def translate(exc: BaseException) -> TelegramError:
    """The one place Kurigram's exceptions become backend-neutral errors."""
    if isinstance(exc, perrors.FloodWait | perrors.FloodPremiumWait):
        return from_rpc("FLOOD_WAIT", seconds=int(getattr(exc, "value", 0) or 0))
    if isinstance(exc, perrors.RPCError):
        name = str(getattr(exc, "ID", None) or "")
        value = getattr(exc, "value", None)
        if not name and isinstance(value, str) and value.startswith("["):
            name = value.strip("[]").split(" ")[-1]  # unknown error: "[400 SOME_NAME]"
        return from_rpc(name)
    if isinstance(exc, AuthKeyNotFound):
        return auth_key_unknown()
    return from_failure(exc)


def _me(user: Any) -> Me:
    """From a raw ``User`` or a high-level ``pyrogram.types.User``."""
    phone = getattr(user, "phone", None) or getattr(user, "phone_number", None)
    is_bot = getattr(user, "bot", None)
    if is_bot is None:
        is_bot = getattr(user, "is_bot", False)
    return Me(id=int(user.id), username=user.username,
              display_name=display_name(user.first_name, user.last_name),
              phone=phone, is_bot=bool(is_bot))


class PyrogramClient(MessagingCalls, TelegramClient):
    _t = raw.types

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        trust(self.cfg.server.public_key_pem if self.cfg.server else None)
        # Class-wide too: a session's first ping waits the class's value (Kurigram's 5 s),
        # and the runtime turns the pings off only once its client is up: a first
        # ping_delay_disconnect slipping through would have the server drop the connection.
        keep_alive(Session, self.cfg)
        storage = MemoryStorage("unifyport", self.initial, self.api_id)
        self._client = Client(
            "unifyport", api_id=self.api_id, api_hash=self.api_hash, sleep_threshold=0,
            connection_factory=connection_class(self.cfg), no_updates=False,
            skip_updates=True, max_concurrent_transmissions=1, workers=1,
            fetch_replies=False, fetch_topics=False, fetch_stories=False,
            fetch_stickers=False, storage_engine=storage)
        self._dc_id = self.initial.dc_id if self.initial else self.cfg.main_dc
        self._auth_key = self.initial.auth_key if self.initial else None
        self._callback: UpdateCallback | None = None
        self._dropped = asyncio.Event()
        self._client.disconnect_handler = self._on_session_stop

    # -- plumbing ---------------------------------------------------------------------
    def _dead_key(self) -> TelegramError | None:
        """The -404 Kurigram swallowed: its receive task died with ``AuthKeyNotFound``."""
        session = getattr(self._client, "session", None)
        task = getattr(session, "recv_task", None)
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                return translate(exc)
        return None

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            return await bounded(aw, self.cfg.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                dead = self._dead_key()
                if dead is not None:
                    raise dead from None
            raise translate(exc) from None

    async def _invoke(self, query: Any) -> Any:
        return await self._call(self._client.invoke(query, retries=1,
                                                    timeout=self.cfg.timeout))

    def _remember(self) -> None:
        session = getattr(self._client, "session", None)
        if session is not None and session.auth_key:
            self._dc_id, self._auth_key = int(session.dc_id), bytes(session.auth_key)

    async def connect(self) -> None:
        await self._call(self._client.connect())
        session = self._client.session
        keep_alive(session, self.cfg)
        for _ in range(int(self.cfg.timeout * 20)):
            if session.is_started.is_set():
                break
            dead = self._dead_key()
            if dead is not None:
                raise dead
            await asyncio.sleep(0.05)
        else:
            raise unavailable("cannot connect to Telegram")
        # A dead key (-404) ends the receive task with AuthKeyNotFound and nothing else:
        # told at once, instead of polled for (see wait_disconnected).
        session.recv_task.add_done_callback(lambda _task: self._dropped.set())
        self._remember()
        await self._call(self._client.initialize())
        # Only raw updates are used: skip building high-level objects for every update.
        self._client.dispatcher.update_parsers = {}
        self._client.add_handler(handlers.RawUpdateHandler(self._on_raw))
        await asyncio.sleep(0)

    async def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            if self._client.is_initialized:
                await asyncio.wait_for(self._client.terminate(), 5)
        with contextlib.suppress(Exception):
            if self._client.is_connected:
                await asyncio.wait_for(self._client.disconnect(), 5)

    def export_session(self) -> SessionData:
        self._remember()
        if self._auth_key is None:
            raise TelegramError("invalid_session", "the client has no auth key")
        return SessionData(dc_id=self._dc_id, auth_key=self._auth_key, user_id=self._user_id,
                           is_bot=self._is_bot)

    # -- login -------------------------------------------------------------------------------
    async def send_code(self, phone: str) -> SentCode:
        sent = await self._call(self._client.send_code(phone))
        self._remember()
        code_type = _CODE_TYPES.get(sent.type, str(getattr(sent.type, "name", "app")).lower())
        return SentCode(str(sent.phone_code_hash), code_type, sent.timeout)

    async def sign_in(self, phone: str, phone_code_hash: str, code: str) -> Me:
        user = await self._call(self._client.sign_in(phone, phone_code_hash, code))
        if user is False or not hasattr(user, "id"):
            raise TelegramError("phone_invalid", "this phone number has no Telegram account")
        return self._logged_in(_me(user))

    async def check_password(self, password: str) -> Me:
        return self._logged_in(_me(await self._call(self._client.check_password(password))))

    def _login_token(self, res: Any) -> LoginToken:
        if isinstance(res, raw.types.auth.LoginToken):
            return LoginToken(token=bytes(res.token), expires=int(res.expires))
        if isinstance(res, raw.types.auth.LoginTokenMigrateTo):
            return LoginToken(token=bytes(res.token), migrate_dc=int(res.dc_id))
        auth = res.authorization
        if isinstance(auth, raw.types.auth.AuthorizationSignUpRequired):
            raise TelegramError("phone_invalid", "this account has no Telegram user")
        return LoginToken(me=self._logged_in(_me(auth.user)))

    async def export_login_token(self) -> LoginToken:
        return self._login_token(await self._invoke(raw.functions.auth.ExportLoginToken(
            api_id=self.api_id, api_hash=self.api_hash, except_ids=[])))

    def watch_login_token(self) -> None:
        self._token_seen = False

    async def import_login_token(self, dc_id: int, token: bytes) -> LoginToken:
        client = self._client
        if self._dc_id != dc_id:
            host, port = self.cfg.dc_address(dc_id)
            if client.is_initialized:
                await self._call(client.terminate())
            await self._call(client.session.stop())
            client.session = await self._call(client.get_session(
                dc_id=dc_id, server_address=host, port=port, export_authorization=False,
                temporary=True))
            await client.storage.dc_id(dc_id)
            await client.storage.server_address(host)
            await client.storage.port(port)
            await client.storage.auth_key(client.session.auth_key)
            self._remember()
        return self._login_token(await self._invoke(
            raw.functions.auth.ImportLoginToken(token=token)))

    async def sign_in_bot(self, bot_token: str) -> Me:
        user = await self._call(self._client.sign_in_bot(bot_token))
        self._remember()
        return self._logged_in(_me(user))

    async def get_me(self) -> Me:
        users = await self._invoke(raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]))
        if not users or isinstance(users[0], raw.types.UserEmpty):
            raise TelegramError("auth_key_unregistered", "the session is not logged in")
        return self._logged_in(_me(users[0]))

    async def log_out(self) -> None:
        await self._invoke(raw.functions.auth.LogOut())

    # -- updates -------------------------------------------------------------------------------
    async def get_state(self) -> UpdateState:
        st = await self._invoke(raw.functions.updates.GetState())
        return UpdateState(pts=st.pts, date=int(st.date), qts=st.qts)

    async def ping(self) -> None:
        await self._invoke(raw.functions.Ping(ping_id=random_id()))

    def heartbeat_taken_over(self) -> None:
        stop_pings(self._client.session)

    async def get_difference(self, state: UpdateState) -> list[RawBatch]:
        def fetch(st: UpdateState) -> Awaitable[Any]:
            return self._invoke(raw.functions.updates.GetDifference(
                pts=st.pts, date=st.date, qts=st.qts))

        return await raw_tl.difference(raw.types, fetch, state)

    def on_updates(self, callback: UpdateCallback) -> None:
        self._callback = callback

    async def _on_raw(self, _client: Any, update: Any, users: Any, chats: Any) -> None:
        if isinstance(update, raw.types.UpdateLoginToken):
            self._token_seen = True
            return
        if self._callback is None or not raw_tl.is_wanted(raw.types, update):
            return
        await self._callback(raw_tl.pushed_batch(raw.types, update, dict(users or {}),
                                                 dict(chats or {})))

    async def _on_session_stop(self, _client: Any, _session: Any) -> None:
        # Kurigram restarts a dropped session by itself; the runtime prefers to reconnect
        # from scratch so that what was missed is fetched with getDifference.
        self._dropped.set()

    async def wait_disconnected(self) -> None:
        # Woken by the session's stop or its receive task's end (a dead key: Kurigram keeps
        # that error in the task); polling for them cost a wake-up per client every few
        # seconds (500 a second for 5,000 idle accounts at 10 s).
        if self._client.is_connected:
            await self._dropped.wait()
        dead = self._dead_key()
        if dead is not None:
            raise dead

    # -- sending ----------------------------------------------------------------------------------
    async def _input_peer(self, chat_id: int) -> Any:
        try:
            return await asyncio.wait_for(self._client.resolve_peer(chat_id), self.cfg.timeout)
        except Exception:
            return raw_tl.input_peer(raw.types, chat_id)

    async def _rpc(self, name: str, **kwargs: Any) -> Any:
        module, method = name.split(".")
        return await self._invoke(getattr(getattr(raw.functions, module), method)(**kwargs))

    async def iter_file(self, location: FileLocation) -> AsyncIterator[bytes]:
        if location.dc_id == self._dc_id:
            async for chunk in self._download(location):
                yield chunk
            return
        # Kurigram's own download follows a file kept on another DC (a media session there)
        photo = location.kind == "photo"
        file_id = FileId(
            file_type=FileType.PHOTO if photo else FileType.DOCUMENT, dc_id=location.dc_id,
            media_id=location.id, access_hash=location.access_hash,
            file_reference=location.file_reference, thumbnail_size=location.thumb_size,
            thumbnail_source=ThumbnailSource.THUMBNAIL if photo else None,
            thumbnail_file_type=FileType.PHOTO if photo else None, volume_id=0, local_id=0)
        chunks: AsyncGenerator[bytes, None] = self._client.get_file(file_id, location.size)
        try:
            while True:
                part: bytes | None = await self._call(next_or_none(chunks))
                if part is None:
                    return
                yield part
        finally:
            with contextlib.suppress(Exception):
                await chunks.aclose()

    async def send_message(self, chat_id: int, text: str, reply_to: int | None) -> RawBatch:
        peer = await self._input_peer(chat_id)
        reply = raw.types.InputReplyToMessage(reply_to_msg_id=reply_to) if reply_to else None
        res = await self._invoke(raw.functions.messages.SendMessage(
            peer=peer, message=text, random_id=random_id(), reply_to=reply))
        return raw_tl.sent_batch(raw.types, res, peer, text, reply_to, self._user_id)
