"""The backend-neutral client interface; ``backends/`` holds one implementation per library.

Every method raises only :class:`unifyport_telegram.errors.TelegramError` and returns plain
data; raw updates handed to the update callback are duck-typed TL objects (Telethon and
Pyrogram generate the same names and fields from the same schema), read by
:mod:`unifyport_telegram.normalise`.
"""

from __future__ import annotations

import abc
import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from unifyport.sdk import Identity

from .config import TelegramConfig
from .session_data import SessionData, UpdateState


@dataclass(frozen=True)
class Me:
    """The logged-in user."""

    id: int
    username: str | None
    display_name: str | None
    phone: str | None
    is_bot: bool = False

    def identity(self) -> Identity:
        phone = f"+{self.phone.lstrip('+')}" if self.phone else None
        return Identity(id=str(self.id), username=self.username,
                        display_name=self.display_name, extra={"phone": phone})


@dataclass(frozen=True)
class SentCode:
    phone_code_hash: str
    code_type: str
    """``app``, ``sms``, ``call``, ``flash_call``, ``email``... (``sentCodeType`` lowercased)."""
    timeout: int | None


@dataclass(frozen=True)
class LoginToken:
    """``auth.exportLoginToken``'s answer: a token to show, a DC to move to, or success."""

    token: bytes | None = None
    expires: int | None = None
    migrate_dc: int | None = None
    me: Me | None = None


@dataclass(frozen=True)
class RawBatch:
    """Raw messages with the users and chats needed to describe them."""

    messages: list[Any]
    users: Mapping[int, Any]
    chats: Mapping[int, Any]
    state: UpdateState | None
    """The update state after this batch, when it advanced."""
    others: Sequence[Any] = ()
    """Updates about existing messages (edits, deletions, reactions, read state)."""


@dataclass(frozen=True)
class RawDialogs:
    """A page of ``messages.getDialogs``: dialogs with their top messages in ``batch``."""

    dialogs: list[Any]
    batch: RawBatch
    more: bool
    """Whether Telegram has more dialogs after these."""


@dataclass(frozen=True)
class Upload:
    """A file to send, on disk (read part by part, never whole)."""

    path: Path
    file_name: str
    mime_type: str
    size: int
    kind: str
    """``image``, ``video``, ``audio``, ``voice`` or ``file``."""


@dataclass(frozen=True)
class FileLocation:
    """Where a message's photo or document is stored, as Telegram's file locations say."""

    kind: str  # "photo" or "document"
    id: int
    access_hash: int
    file_reference: bytes
    dc_id: int
    size: int
    thumb_size: str = ""


UpdateCallback = Callable[[RawBatch], Awaitable[None]]


def display_name(first: str | None, last: str | None) -> str | None:
    name = " ".join(p for p in (first, last) if p)
    return name or None


class TelegramClient(abc.ABC):
    """One connected client on one session; not shared between accounts."""

    def __init__(self, cfg: TelegramConfig, api_id: int, api_hash: str,
                 session: SessionData | None) -> None:
        self.cfg = cfg
        self.api_id = api_id
        self.api_hash = api_hash
        self.initial = session
        self._user_id = session.user_id if session else None
        self._is_bot = session.is_bot if session else False
        self._token_seen = False

    def _logged_in(self, me: Me) -> Me:
        """Remember who logged in (it goes into :meth:`export_session`); returns ``me``."""
        self._user_id, self._is_bot = me.id, me.is_bot
        return me

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connect (creating an auth key when the session has none)."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Close the connection; never raises."""

    @abc.abstractmethod
    def export_session(self) -> SessionData:
        """The current DC, auth key and user of this client."""

    @abc.abstractmethod
    async def send_code(self, phone: str) -> SentCode: ...

    @abc.abstractmethod
    async def sign_in(self, phone: str, phone_code_hash: str, code: str) -> Me:
        """Raises ``password_needed`` when the account has 2FA."""

    @abc.abstractmethod
    async def check_password(self, password: str) -> Me: ...

    @abc.abstractmethod
    async def export_login_token(self) -> LoginToken: ...

    @abc.abstractmethod
    def watch_login_token(self) -> None:
        """Start listening for ``updateLoginToken`` (the QR code was scanned)."""

    def login_token_seen(self) -> bool:
        """Whether ``updateLoginToken`` arrived since :meth:`watch_login_token`."""
        return self._token_seen

    @abc.abstractmethod
    async def import_login_token(self, dc_id: int, token: bytes) -> LoginToken:
        """Move to ``dc_id`` with a fresh key and import ``token`` there."""

    @abc.abstractmethod
    async def sign_in_bot(self, bot_token: str) -> Me: ...

    @abc.abstractmethod
    async def get_me(self) -> Me:
        """The own user; raises a revocation error when the session is dead."""

    @abc.abstractmethod
    async def get_difference(self, state: UpdateState) -> list[RawBatch]:
        """Everything that happened since ``state`` (``updates.getDifference`` until done)."""

    @abc.abstractmethod
    async def get_state(self) -> UpdateState: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """One ``ping`` round trip (proves the connection, not the session)."""

    @abc.abstractmethod
    def heartbeat_taken_over(self) -> None:
        """Stop the library's own keep-alive pings: the caller now sends a request (e.g.
        :meth:`ping`) at least every ``ping_interval`` seconds."""

    @abc.abstractmethod
    def on_updates(self, callback: UpdateCallback) -> None:
        """Deliver new messages pushed by the server to ``callback``."""

    @abc.abstractmethod
    async def wait_disconnected(self) -> None:
        """Return (or raise the reason) when the connection is lost for good."""

    @abc.abstractmethod
    async def send_message(self, chat_id: int, text: str, reply_to: int | None) -> RawBatch: ...

    @abc.abstractmethod
    async def log_out(self) -> None: ...

    # -- messaging (``backends/messaging.py`` implements these once for both libraries) ----
    @abc.abstractmethod
    async def get_dialogs(self, limit: int, offset: tuple[int, int, int] | None) -> RawDialogs:
        """Dialogs after ``offset`` (date, top message id, marked peer id of the last one)."""

    @abc.abstractmethod
    async def get_history(self, chat_id: int, limit: int, offset_id: int) -> RawBatch:
        """Messages older than ``offset_id`` (0: the newest), newest first."""

    @abc.abstractmethod
    async def get_messages(self, chat_id: int, ids: list[int]) -> RawBatch: ...

    @abc.abstractmethod
    async def send_media(self, chat_id: int, upload: Upload, caption: str,
                         reply_to: int | None) -> RawBatch:
        """Upload the file in parts and send it as a photo or a document."""

    @abc.abstractmethod
    def iter_file(self, location: FileLocation) -> AsyncIterator[bytes]:
        """The file's bytes in chunks, fetched as they are read."""

    @abc.abstractmethod
    async def edit_message(self, chat_id: int, msg_id: int, text: str) -> RawBatch: ...

    @abc.abstractmethod
    async def delete_messages(self, chat_id: int, ids: list[int]) -> None:
        """Delete for everyone."""

    @abc.abstractmethod
    async def send_reaction(self, chat_id: int, msg_id: int, emoji: str | None) -> None:
        """Set the account's reaction (``None``: take it back)."""

    @abc.abstractmethod
    async def read_history(self, chat_id: int, max_id: int) -> None: ...


T = TypeVar("T")


async def bounded(call: Awaitable[T], seconds: float) -> T:
    """``call`` within ``seconds`` (as ``asyncio.wait_for``), its outcome retrieved even when
    the caller is cancelled meanwhile. Kurigram answers the cancellation of a request with a
    ``TimeoutError`` of its own; left unretrieved, that error was logged with its traceback
    ("Task exception was never retrieved") whenever the garbage collector freed the task,
    i.e. at any later moment, here inside werkzeug's ``ast.parse`` while the suite built an
    app, which is where CPython 3.11.7 raised "AST constructor recursion depth mismatch"
    (gh-106905; formatting a 3.11 traceback parses source for its carets)."""
    task = asyncio.ensure_future(call)
    task.add_done_callback(_retrieved)
    return await asyncio.wait_for(task, seconds)


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


TCP_KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
"""The kernel probes a connection silent for 60 s, every 10 s, and drops it after 3
unanswered probes."""


def tcp_keepalive(sock: Any) -> None:
    """TCP keep-alive on a client's connection, whose heartbeat may come minutes apart
    (``heartbeat_rate``): the probes keep NATs and load balancers from dropping it and find
    a dead peer, in the kernel, without waking the process."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in TCP_KEEPALIVE.items():
        if hasattr(socket, name):  # Linux; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
