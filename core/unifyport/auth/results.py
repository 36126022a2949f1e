"""What a step handler receives and answers: its context, typed results, domain errors.

A step returns :class:`Next` (an in-progress status, with data to keep and fields to show),
:class:`External` (the user must open a URL; the client polls a later step) or :class:`Done`
(authorized, with credentials and identity), or raises :class:`StepError` with a stable code.
The core decides what is stored, which events are written and which HTTP status answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from unifyport.errors import ApiError, ErrorKind, http_status_of


@dataclass(frozen=True)
class Identity:
    """Who an authorized account is, at the channel; ``extra`` holds channel-specific
    public attributes (Telegram's ``phone``), shown beside the common ones."""

    id: str
    username: str | None = None
    display_name: str | None = None
    extra: Mapping[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                **self.extra}


@dataclass(frozen=True)
class EventDraft:
    """An event a provider asks the core to emit; the core adds ``account_id``."""

    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Outbound:
    """Core services a provider uses for every request to a user-supplied address (a
    homeserver, a session URL): the outbound-URL policy is the core's, not the plugin's."""

    fetch: Callable[[str, int], Awaitable[bytes]]
    """``await fetch(url, max_bytes)``: download under the outbound-URL policy. Raises
    :class:`StepError` (``url_not_allowed`` / ``download_failed``)."""
    check_url: Callable[[str], str]
    """``check_url(url)``: the URL if the policy allows it (``http://`` only inside
    ``security.outbound_allow_cidrs``); raises :class:`StepError` ``url_not_allowed``."""
    connector: Callable[[], aiohttp.BaseConnector]
    """A new aiohttp connector whose every connection goes to an address the policy allows
    (checked at each DNS resolution); give it to the client library's ``ClientSession``.
    Create it inside the running event loop."""


@dataclass(frozen=True)
class StepContext:
    """Everything a step handler may read. ``provider_data`` includes decrypted secrets."""

    account_id: str
    auth_mode: str
    step: str
    status: str
    provider_data: Mapping[str, Any]
    params: Mapping[str, Any]
    flow: Mapping[str, Any]
    """In-progress flow data kept by earlier steps (empty when none)."""
    input: Mapping[str, Any]
    """The step's validated body fields (``params`` are already merged into ``params``)."""
    outbound: Outbound | None = None


@dataclass(frozen=True)
class Next:
    """The flow goes on in ``status`` (one of the step's targets)."""

    status: str
    flow: Mapping[str, Any] | None = None
    """Data to keep for the next step (stored encrypted); ``None`` keeps none."""
    expose: Mapping[str, Any] = field(default_factory=dict)
    """Extra top-level response fields, e.g. Telegram's ``{"qr": {...}}`` (declared by the
    step's ``exposes`` model)."""
    events: tuple[EventDraft, ...] = ()


@dataclass(frozen=True)
class External:
    """The user must open ``url`` (an OAuth/SSO page, an e-mailed link); the flow waits in
    ``status`` and the client calls a later step to learn the outcome. Answered as
    ``"external": {"url": ...}``."""

    status: str
    url: str
    flow: Mapping[str, Any] | None = None
    events: tuple[EventDraft, ...] = ()


@dataclass(frozen=True)
class Done:
    """Logged in: ``session`` (stored encrypted, handed to the runtime) and ``identity``."""

    session: bytes
    identity: Identity
    events: tuple[EventDraft, ...] = ()


StepResult = Next | External | Done


class StepError(Exception):
    """A step (or a send) failed with a stable error ``code``.

    ``fail`` ends the flow (the account moves to ``failed``); otherwise the status is kept
    and the caller may retry (``invalid_code``). ``kind`` says what kind of failure it is when
    the code alone does not (see :class:`unifyport.errors.ErrorKind`); the core maps it to the
    HTTP status. ``retry_after`` (seconds) accompanies ``flood_wait``; ``flow`` replaces the
    kept flow data while the status is kept.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        kind: ErrorKind | None = None,
        fail: bool = False,
        retry_after: int | None = None,
        flow: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.fail = fail
        self.retry_after = retry_after
        self.flow = flow

    @property
    def http_status(self) -> int:
        return http_status_of(self.code, self.kind)

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
