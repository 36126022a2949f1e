"""Plain values exchanged between the delivery queue and a sink."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True)
class Target:
    """A destination of a sink (a webhook endpoint) and the event types it receives."""

    name: str
    patterns: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class Claim:
    """A delivery leased to this process: deliver ``body``, then report an :class:`Outcome`."""

    delivery_id: int
    target: str
    event_id: str
    event_type: str
    account_id: str | None
    body: bytes
    """``{"type", "timestamp", "data"}`` as JSON (the Standard Webhooks body), built from the
    stored event without decoding it."""
    attempt: int
    """1 for the first attempt; counts attempts since the delivery was (re)queued."""
    token: str
    """The lease; an outcome is applied only while the lease is still this one."""

    @property
    def envelope(self) -> Mapping[str, Any]:
        """``body`` decoded."""
        decoded: Mapping[str, Any] = json.loads(self.body)
        return decoded


Result = Literal["succeeded", "retry", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed delivery."""

    claim: Claim
    result: Result
    at: datetime
    """When the attempt started."""
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None
    """For ``retry``: when the next attempt is due."""


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
