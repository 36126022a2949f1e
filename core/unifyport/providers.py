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
from unifyport.messages import Message, OutgoingMessage


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


@dataclass(frozen=True)
class SendContext:
    """What ``Provider.send`` receives: the account and the client its runtime attached."""

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
    the account is deleted), ``revocation`` (the channel can end a running session)."""

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
