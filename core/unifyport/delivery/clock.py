"""Clocks for retry timing: the system clock, and a manual one tests move forward."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from unifyport.db.types import utcnow


class Clock(Protocol):
    """Decides when deliveries are due; ``now()`` is timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """Starts at the current time and moves only when :meth:`advance` is called."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
