"""What a channel plugin implements: a provider with auth modes, step handlers and a runtime.

The core owns the state machine, storage, encryption, events and HTTP. A provider receives
plain data in a context object and answers with typed results; it never writes the database.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from unifyport.auth.states import AuthStatus, AuthStep
from unifyport.errors import ApiError

FieldType = Literal["string", "integer", "boolean"]


@dataclass(frozen=True)
class FieldSpec:
    """One input field of an auth mode; drives request validation and the OpenAPI schema."""

    name: str
    type: FieldType = "string"
    required: bool = True
    secret: bool = False
    description: str = ""
    pattern: str | None = None
    """A regular expression a string value must fully match (e.g. E.164 for phones)."""
    location: Literal["provider_data", "params"] = "provider_data"


@dataclass(frozen=True)
class AuthModeSpec:
    """An auth mode of a provider: its fields and the steps it supports."""

    name: str
    description: str
    fields: tuple[FieldSpec, ...]
    steps: frozenset[AuthStep]


@dataclass(frozen=True)
class Identity:
    """Who an authorized account is, at the provider."""

    id: str
    username: str | None = None
    display_name: str | None = None
    phone: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "phone": self.phone,
        }


@dataclass(frozen=True)
class EventDraft:
    """An event a provider asks the core to emit; the core adds ``account_id``."""

    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Outbound:
    """Core services a provider may use for outbound requests."""

    fetch: Callable[[str, int], Awaitable[bytes]]
    """``await fetch(url, max_bytes)``: download under the outbound-URL policy. Raises
    :class:`StepError` (``url_not_allowed`` / ``download_failed``)."""


@dataclass(frozen=True)
class StepContext:
    """Everything a step handler may read. ``provider_data`` includes decrypted secrets."""

    account_id: str
    auth_mode: str
    status: AuthStatus
    provider_data: Mapping[str, Any]
    params: Mapping[str, Any]
    flow: Mapping[str, Any]
    """In-progress flow data saved by earlier steps (empty when none)."""
    input: Mapping[str, Any]
    """The step's request body (``code``, ``password``, ``params``)."""
    outbound: Outbound | None = None


@dataclass(frozen=True)
class StepResult:
    """A successful step. ``status`` must be one of the step's allowed targets."""

    status: AuthStatus
    flow: Mapping[str, Any] | None = None
    """Data to keep for the next step (stored encrypted); ``None`` keeps none."""
    session: bytes | None = None
    """Credentials to store (encrypted) when the account becomes authorized."""
    identity: Identity | None = None
    response: Mapping[str, Any] = field(default_factory=dict)
    """Extra top-level response fields, e.g. ``{"qr": {...}}``."""
    events: tuple[EventDraft, ...] = ()


class StepError(Exception):
    """A step (or runtime call) failed with a stable error ``code``.

    ``fail`` moves the account to ``failed``; otherwise it keeps its status (the caller may
    retry, e.g. after ``invalid_code``). ``retry_after`` (seconds) accompanies ``flood_wait``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int = 400,
        fail: bool = False,
        retry_after: int | None = None,
        flow: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.fail = fail
        self.retry_after = retry_after
        self.flow = flow

    def details(self) -> dict[str, Any]:
        """``{code, message, retry_after?}``: what the account's ``last_error`` records."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body

    def api_error(self, **extra: Any) -> ApiError:
        """The error answered to the API client (``retry_after`` included when set)."""
        body = self.details()
        return ApiError(self.http_status, body.pop("code"), body.pop("message"), **body, **extra)


class RuntimeStatus(enum.StrEnum):
    """Runtime status of an account's online client."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


class SessionRevoked(Exception):
    """Raised by a runtime when the provider says the session is dead; ``reason`` is stable
    (``session_revoked``, ``auth_key_duplicated``...). The account moves to ``logged_out``."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class RuntimeContext(Protocol):
    """What the core hands a running client."""

    account_id: str
    provider_data: Mapping[str, Any]
    session: bytes

    async def set_status(self, status: RuntimeStatus, error: str | None = None) -> None:
        """Report ``running`` once online, ``reconnecting`` while the link is down."""

    async def emit(self, type: str, data: Mapping[str, Any]) -> None:
        """Emit an event for this account (``message.received``...), stored durably."""

    async def emit_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Emit several ``(type, data)`` events for this account in one transaction, in order
        (for high-rate streams: one commit per batch instead of one per event)."""

    async def save_session(self, session: bytes) -> None:
        """Replace the stored credentials (e.g. after a data-centre migration)."""


@runtime_checkable
class Provider(Protocol):
    """A channel: registered by a plugin through ``register_providers``."""

    name: str
    description: str
    auth_modes: tuple[AuthModeSpec, ...]

    async def run_step(self, step: AuthStep, ctx: StepContext) -> StepResult:
        """Perform one auth step; raise :class:`StepError` for expected failures."""
        ...

    async def run_runtime(self, ctx: RuntimeContext) -> None:
        """Keep the account online until cancelled. Raise :class:`SessionRevoked` when the
        session is dead; any other exception is retried by the core with backoff."""
        ...

    async def send_message(
        self, account_id: str, chat_id: str, text: str, reply_to_id: str | None
    ) -> Mapping[str, Any]:
        """Send a message through the account's running client; return the normalised message.
        Raise :class:`StepError` (``runtime_not_running``...) when it cannot."""
        ...

    async def logout(
        self, account_id: str, provider_data: Mapping[str, Any], session: bytes | None
    ) -> None:
        """Log the session out at the provider when possible (account deletion)."""
        ...

    async def aclose(self) -> None:
        """Release clients and connections at shutdown."""
        ...
