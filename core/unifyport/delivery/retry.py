"""When to try a failed delivery again: the sink's schedule with jitter, or ``Retry-After``."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from unifyport.events.sinks import MAX_RETRY_AFTER, RetryPolicy


def next_delay(policy: RetryPolicy, attempt: int, retry_after: float | None = None
               ) -> float | None:
    """Seconds until the attempt after attempt number ``attempt`` (1-based), or ``None`` when
    the schedule is exhausted. ``retry_after`` replaces the scheduled delay."""
    if attempt >= len(policy.schedule):
        return None
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    delay = policy.schedule[attempt]
    jitter = policy.jitter
    return delay * random.uniform(1 - jitter, 1 + jitter) if delay else 0.0


def retry_at(policy: RetryPolicy, now: datetime, attempt: int,
             retry_after: float | None = None) -> datetime | None:
    """When the next attempt is due (``None``: give up)."""
    delay = next_delay(policy, attempt, retry_after)
    return None if delay is None else now + timedelta(seconds=delay)
