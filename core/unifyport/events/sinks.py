"""What an event-sink plugin implements: delivery of one claimed event to one target.

The core's delivery engine (:mod:`unifyport.delivery.engine`) does everything else: it fans
events out to the sink's targets, leases due deliveries, runs up to ``max_concurrency``
deliveries per target, enforces the target's timeout, retries on the sink's schedule (or after
a ``Retry-After``), disables targets that fail too long, and keeps the attempt log. A sink
answers each :meth:`EventSink.deliver` with :class:`Delivered` or :class:`Failed`.

Only the standard library is imported here: plugins import these types (re-exported by the
SDK module) without pulling in the web framework or the database layer.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from unifyport.outbound.policy import OutboundPolicy
    from unifyport.settings import Settings

DEFAULT_RETRY_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
MAX_RETRY_AFTER = 86400.0
"""A ``retry_after`` is capped at a day."""
_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
_TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def valid_pattern(pattern: str) -> bool:
    """An event-type pattern: ``*``, an exact dotted type, or a dotted prefix ending in ``.*``."""
    return bool(_PATTERN.match(pattern))


@dataclass(frozen=True)
class Target:
    """A destination of a sink (a webhook endpoint, a queue) and how the core drives it."""

    name: str
    """``a-z``, ``0-9``, ``_``, ``-``; up to 64 characters, unique within the sink."""
    patterns: tuple[str, ...] = ("*",)
    """The event types it receives (see :func:`valid_pattern`)."""
    max_concurrency: int = 20
    """Deliveries in flight to it at once (per server process)."""
    timeout: float = 15.0
    """Seconds one delivery may take; the core cancels it then and counts a retryable
    failure ``timeout: no response within …``. Leases last ``2 * timeout + 10 s``."""
    batch_size: int = 1
    """More than 1: the core hands up to this many claims at once to ``deliver_batch``."""
    account_ids: tuple[str, ...] | None = None
    """Only events of these accounts; ``None``: every event."""
    url: str | None = None
    """Where it delivers, for listings (``GET /v1/webhooks``)."""


@dataclass(frozen=True)
class RetryPolicy:
    """When the core tries a failed delivery again, and when it gives up on a target."""

    schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    """Delay (seconds) before each attempt, the first being the initial one; its length is the
    number of attempts."""
    jitter: float = 0.2
    """Each retry delay is multiplied by a random factor in ``[1 - jitter, 1 + jitter]``."""
    disable_after: float | None = 5 * 86400.0
    """A target whose attempts have all failed for this long (seconds) is disabled; ``None``
    never disables one."""


@dataclass(frozen=True)
class Claim:
    """One event leased for delivery to one target: what :meth:`EventSink.deliver` receives."""

    delivery_id: int
    target: str
    """The target's name (see :meth:`EventSink.targets`)."""
    event_id: str
    event_type: str
    account_id: str | None
    body: bytes
    """``{"type", "timestamp", "data"}`` as JSON (the Standard Webhooks body), built from the
    stored event without decoding it: send these bytes as they are."""
    attempt: int
    """1 for the first attempt; counts attempts since the delivery was (re)queued."""
    token: str
    """The lease (the core's); an outcome is applied only while the lease is still this one."""

    @property
    def envelope(self) -> Mapping[str, Any]:
        """``body`` decoded."""
        decoded: Mapping[str, Any] = json.loads(self.body)
        return decoded


@dataclass(frozen=True, slots=True)
class Delivered:
    """The far side accepted the event."""

    status: int | None = None
    """A status code to log (e.g. the HTTP status), if the transport has one."""
    duration_ms: int | None = None
    """How long it took; ``None``: the core's measure around :meth:`EventSink.deliver`."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The delivery failed. ``error`` is logged as is (up to 500 characters): never put
    secrets or message bodies in it."""

    error: str
    retryable: bool = True
    """False: a permanent failure; the delivery is ``failed`` without another attempt."""
    status: int | None = None
    retry_after: float | None = None
    """Seconds the far side asked to wait: replaces the scheduled delay (still an attempt;
    capped at :data:`MAX_RETRY_AFTER`)."""
    disable_target: str | None = None
    """A reason to disable the target at once (e.g. HTTP 410 Gone); implies no retry."""
    duration_ms: int | None = None


DeliveryResult = Delivered | Failed


@dataclass(frozen=True)
class TargetState:
    """A target as stored: enabled or not, failing since when, and its delivery counts."""

    name: str
    patterns: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    pending: int
    failed: int
    succeeded: int


def iso(value: datetime | str | None) -> str | None:
    """RFC 3339 with a ``Z`` suffix, as every time in the API (a string is a time read as
    that text already: ``db.types.utc_text``)."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat().replace("+00:00", "Z")


def target_state_json(state: TargetState | None) -> dict[str, Any]:
    """A target's state and delivery counts as the API shows them (``None``, a target with
    nothing stored yet: enabled, nothing counted)."""
    return {
        "enabled": state.enabled if state else True,
        "disabled_reason": state.disabled_reason if state else None,
        "disabled_at": iso(state.disabled_at) if state else None,
        "failing_since": iso(state.failing_since) if state else None,
        "pending": state.pending if state else 0,
        "failed": state.failed if state else 0,
        "succeeded": state.succeeded if state else 0,
    }


class SinkControl(Protocol):
    """Operator actions on a running sink's targets (for its management routes)."""

    async def target_states(self) -> list[TargetState]:
        """Every target of the sink with its delivery counts, by name."""
        ...

    async def set_enabled(self, target: str, enabled: bool, reason: str | None = None) -> bool:
        """Enable (clearing ``failing_since``) or disable a target; disabling fails its pending
        deliveries. False when there is no such target."""
        ...

    async def recover(self, target: str, since: datetime) -> int:
        """Requeue the failed deliveries of ``target`` for events created since ``since``;
        returns how many."""
        ...


@dataclass(frozen=True)
class HttpEndpoint:
    """An endpoint stored through the API (``/v1/webhooks``), as the core hands it to the sink
    that delivers stored endpoints: where to POST, the keys that sign (the newest first; a
    rotated-out key stays during its grace period) and extra request headers."""

    id: str
    url: str
    keys: tuple[bytes, ...] = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


class EndpointLookup(Protocol):
    """The core's directory of stored endpoints (:attr:`SinkContext.endpoints`)."""

    def get(self, target: str) -> HttpEndpoint | None:
        """The stored endpoint whose target name is ``target``; ``None`` when there is none
        (deleted, or not a stored endpoint)."""
        ...


@dataclass(frozen=True)
class SinkContext:
    """What a sink's optional ``running(ctx)`` receives.

    - ``sink``: the name it registered under; ``settings``: the gateway settings;
    - ``outbound``: the outbound-URL policy (``outbound.connector(limit)`` is an aiohttp
      connector that only connects to checked addresses; ``outbound.check_url(url)``);
    - ``control``: :class:`SinkControl`, for the sink's management routes;
    - ``endpoints``: for the sink that declares ``stored_endpoints = True``, the endpoints
      stored through the API (:class:`EndpointLookup`): their targets come from the core,
      next to the sink's own ``targets()``; ``None`` for every other sink.
    """

    sink: str
    settings: Settings
    outbound: OutboundPolicy
    control: SinkControl
    endpoints: EndpointLookup | None = None


@runtime_checkable
class EventSink(Protocol):
    """An event sink, registered through the ``register_event_sinks`` hook.

    Optional members, used when present:

    - ``stored_endpoints = True``: the sink also delivers the HTTP endpoints stored through
      the API (at most one sink may declare it): it finds each in ``ctx.endpoints``;

    - ``running(ctx: SinkContext) -> AsyncContextManager``: entered before the first delivery
      and left after the last (open and close clients there);
    - ``async deliver_batch(claims: Sequence[Claim]) -> Sequence[DeliveryResult]``: one result
      per claim, in order, for targets whose ``batch_size`` is above 1.
    """

    name: str
    retry: RetryPolicy

    def targets(self) -> Sequence[Target]:
        """The sink's targets (called at registration and each time delivery starts)."""
        ...

    async def deliver(self, claim: Claim) -> DeliveryResult:
        """Deliver ``claim.body`` to target ``claim.target`` once. An exception counts as a
        retryable failure; so does running past the target's timeout (the core cancels)."""
        ...


@runtime_checkable
class RunningSink(Protocol):
    """A sink with the optional ``running(ctx)``."""

    def running(self, ctx: SinkContext) -> AbstractAsyncContextManager[object]: ...


@runtime_checkable
class BatchSink(Protocol):
    """A sink with the optional ``deliver_batch(claims)``."""

    async def deliver_batch(self, claims: Sequence[Claim]) -> Sequence[DeliveryResult]: ...


def sink_problem(obj: object) -> str | None:
    """Why ``obj`` does not implement :class:`EventSink` (``None`` when it does)."""
    retry = getattr(obj, "retry", None)
    if not isinstance(retry, RetryPolicy):
        return "'retry' must be a RetryPolicy"
    if not retry.schedule or min(retry.schedule) < 0 or not 0 <= retry.jitter < 1:
        return "'retry' needs a non-empty schedule of delays >= 0 and 0 <= jitter < 1"
    if not inspect.iscoroutinefunction(getattr(obj, "deliver", None)):
        return "needs an 'async def deliver(claim)'"
    batch = getattr(obj, "deliver_batch", None)
    if batch is not None and not inspect.iscoroutinefunction(batch):
        return "'deliver_batch' must be an async method"
    if hasattr(obj, "running") and not callable(obj.running):
        return "'running' must be a method returning an async context manager"
    if not callable(getattr(obj, "targets", None)):
        return "needs a 'targets()' method"
    return _targets_problem(obj.targets(), batch is not None)  # type: ignore[attr-defined]


def _targets_problem(targets: object, batches: bool) -> str | None:
    if not isinstance(targets, Sequence) or not all(isinstance(t, Target) for t in targets):
        return "targets() must return a sequence of Target"
    names = [t.name for t in targets]
    for t in targets:
        if not _TARGET_NAME.match(t.name) or names.count(t.name) > 1:
            return f"target name {t.name!r} is invalid or repeated"
        if not t.patterns or not all(isinstance(p, str) and valid_pattern(p)
                                     for p in t.patterns):
            return f"target {t.name!r}: patterns must be '*', a type or a prefix like 'message.*'"
        if t.max_concurrency < 1 or t.batch_size < 1 or not t.timeout > 0:
            return f"target {t.name!r}: max_concurrency, batch_size and timeout must be positive"
        if t.batch_size > 1 and not batches:
            return f"target {t.name!r}: batch_size > 1 needs 'deliver_batch'"
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header (delta-seconds or an HTTP date); ``None``
    when it is neither (``str.isdigit`` alone accepts digits ``float`` refuses, such as ``²``)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
