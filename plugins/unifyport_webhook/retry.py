"""When to try a failed delivery again: the schedule with jitter, or the receiver's
``Retry-After``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 86400.0


class RetryPolicy:
    def __init__(self, schedule: tuple[float, ...], jitter: float) -> None:
        self.schedule = schedule
        self.jitter = jitter

    def next_delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds until the attempt after attempt number ``attempt`` (1-based), or ``None``
        when the schedule is exhausted. ``retry_after`` replaces the scheduled delay."""
        if attempt >= len(self.schedule):
            return None
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        delay = self.schedule[attempt]
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter) if delay else 0.0

    def retry_at(self, now: datetime, attempt: int, retry_after: float | None = None
                 ) -> datetime | None:
        delay = self.next_delay(attempt, retry_after)
        return None if delay is None else now + timedelta(seconds=delay)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` when
    it is neither (``str.isdigit`` alone accepts digits ``float`` refuses, such as ``²``)."""
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
