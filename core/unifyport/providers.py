"""What a channel plugin implements: a :class:`Provider` with declared auth modes, step
handlers, a runtime that keeps an account online, and sending.

The core owns the state machine, storage, encryption, events and HTTP. A provider receives
plain data in context objects and answers with typed results; it never writes the database
and never speaks HTTP status codes. Plugins import all of this from :mod:`unifyport.sdk`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from unifyport.auth.declare import AuthMode
from unifyport.auth.results import Outbound, StepContext, StepError, StepResult
from unifyport.errors import ErrorKind
from unifyport.messages import AttachmentStream, ChatSummary, Message, OutgoingMessage, Page

MESSAGING_CAPABILITIES = ("chats", "history", "media", "download", "edit", "delete", "react",
                          "read")
"""The messaging capabilities a provider may declare, one per optional method (``media``:
``send`` takes attachments)."""


class RuntimeStatus(enum.StrEnum):
    """Runtime status of an account's online client."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


class SessionRevoked(Exception):
    """Raised by a runtime when the channel says the session is dead; ``reason`` is stable
    (``session_revoked``, ``auth_key_duplicated``...). The account moves to ``logged_out``."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class RuntimeContext(Protocol):
    """What the core hands a running client (``Provider.run_runtime``)."""

    account_id: str
    provider_data: Mapping[str, Any]
    session: bytes
    outbound: Outbound
    """Connections to user-supplied addresses go through the core's outbound-URL policy."""

    def attach(self, client: object) -> None:
        """Hand the core the running client: ``send`` receives it as ``SendContext.client``
        while this runtime runs (the provider keeps no account -> client map of its own)."""

    async def set_status(self, status: RuntimeStatus, error: str | None = None) -> None:
        """Report ``running`` once online, ``reconnecting`` while the link is down."""

    async def received(self, messages: Sequence[Message]) -> None:
        """Emit one ``message.received`` per message, in order, in one transaction."""

    async def emit(self, type: str, data: Mapping[str, Any]) -> None:
        """Emit another event for this account, stored durably."""

    async def emit_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Emit several ``(type, data)`` events for this account in one transaction, in order."""

    async def save_session(self, session: bytes) -> None:
        """Replace the stored credentials (e.g. after a data-centre migration)."""


class NotSupported(StepError):
    """The provider cannot do ``capability``: answered 501 ``not_supported`` naming it. The
    default of every optional messaging method; raise it too for a case the channel lacks."""

    def __init__(self, capability: str, message: str = "") -> None:
        super().__init__("not_supported",
                         message or f"this provider does not support {capability!r}",
                         kind=ErrorKind.NOT_SUPPORTED)
        self.capability = capability

    def details(self) -> dict[str, Any]:
        return {**super().details(), "capability": self.capability}


@dataclass(frozen=True)
class SendContext:
    """What ``Provider.send`` and the other messaging methods receive: the account and the
    client its runtime attached."""

    account_id: str
    provider_data: Mapping[str, Any]
    client: object
    outbound: Outbound | None = None


class Provider(abc.ABC):
    """A channel, registered by a plugin through ``register_providers``.

    Subclass it, declare ``name``, ``description`` and ``auth_modes``, implement
    :meth:`run_step` and :meth:`run_runtime`; the other methods have working defaults.
    ``capabilities`` tells the conformance kit (``unifyport.testing``) what to exercise.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    auth_modes: tuple[AuthMode, ...]
    text_limit: int = 4096
    """Longest text ``send`` accepts (characters); longer is 422 before the provider runs."""
    capabilities: frozenset[str] = frozenset({"receive", "send"})
    """Any of ``receive``, ``send``, ``logout`` (the session is ended at the channel when
    the account is deleted), ``revocation`` (the channel can end a running session), and the
    messaging capabilities of :data:`MESSAGING_CAPABILITIES`: ``chats`` (:meth:`list_chats`),
    ``history``, ``media`` (``send`` with attachments), ``download``, ``edit``, ``delete``,
    ``react``, ``read`` (:meth:`mark_read`). The core answers 501 ``not_supported`` for an
    undeclared one without calling the method."""

    @abc.abstractmethod
    async def run_step(self, step: str, ctx: StepContext) -> StepResult:
        """Perform the declared step ``step``; raise :class:`StepError` for expected failures.
        ``cancel`` is the core's and never reaches this method (see :meth:`discard`)."""

    @abc.abstractmethod
    async def run_runtime(self, ctx: RuntimeContext) -> None:
        """Keep the account online until cancelled: ``ctx.attach(client)``, report
        ``running``, hand messages to ``ctx.received``. Raise :class:`SessionRevoked` when the
        session is dead; any other exception is retried by the core with backoff."""

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        """Send through the attached client and return the message as sent."""
        raise StepError("unsupported", f"provider {self.name!r} cannot send messages")

    # -- messaging: each needs its capability declared; defaults answer 501 -------------
    async def list_chats(self, ctx: SendContext, limit: int,
                         cursor: str | None) -> Page[ChatSummary]:
        """The account's chats, newest activity first, at most ``limit`` (1-100);
        ``cursor`` is a ``next_cursor`` this method answered before (``chats``)."""
        raise NotSupported("chats")

    async def history(self, ctx: SendContext, chat_id: str, limit: int,
                      cursor: str | None) -> Page[Message]:
        """The chat's messages, newest first, as far back as the channel allows
        (``history``)."""
        raise NotSupported("history")

    async def download(self, ctx: SendContext, chat_id: str, message_id: str,
                       index: int) -> AttachmentStream:
        """Stream attachment ``index`` of a message (``Message.files()`` order) from the
        channel; raise ``StepError("attachment_not_found", ...)`` for a missing one
        (``download``)."""
        raise NotSupported("download")

    async def edit(self, ctx: SendContext, chat_id: str, message_id: str,
                   text: str) -> Message:
        """Replace the text of an own message; answer the message as it is now (``edit``)."""
        raise NotSupported("edit")

    async def delete(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        """Delete a message for everyone (``delete``)."""
        raise NotSupported("delete")

    async def react(self, ctx: SendContext, chat_id: str, message_id: str, emoji: str,
                    remove: bool = False) -> None:
        """Add the account's reaction ``emoji`` to a message, or take it back (``react``)."""
        raise NotSupported("react")

    async def mark_read(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        """Mark the chat read up to ``message_id`` (``read``)."""
        raise NotSupported("read")

    async def discard(self, account_id: str) -> None:
        """Drop whatever is kept in memory for the account's login flow (a connected client
        waiting for a scan): called on ``cancel``, when a flow ends, and on deletion."""
        return None

    async def logout(
        self, account_id: str, provider_data: Mapping[str, Any], session: bytes | None,
        *, outbound: Outbound | None = None,
    ) -> None:
        """End the session at the channel when possible (account deletion); ``outbound``
        carries the core's outbound-URL policy for connections to user-supplied addresses."""
        return None

    async def aclose(self) -> None:
        """Release clients and connections at shutdown."""
        return None
