"""What the delivery engine records about one attempt (the queue's input)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from unifyport.events.sinks import Claim

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
