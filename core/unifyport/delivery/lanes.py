"""One target's share of the delivery engine: its buffer of claims and the leases it holds."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from unifyport.events.sinks import Claim, Target

LEASE_MARGIN = 10.0
PREFETCH = 32
"""Claims buffered beyond the ones in flight: at least this, and up to sixteen per worker, so
the buffer outlasts a refill even when the database is slow to answer (a PostgreSQL refill
of a few hundred claims takes 30-60 ms on a busy event loop; at concurrency 50 the workers
waited for claims half of the time with eight per worker refilled at half empty) ..."""
PER_WORKER = 16
"""... but only as many as the workers can start before the leases run out, at the pace
attempts have been taking (a slow receiver gets a short buffer)."""
REFILL_AT = 3
"""A lane asks for claims once 1/REFILL_AT of its depth is free: early enough that the
buffer outlasts the refill, late enough that a refill carries a batch worth a transaction."""


class TargetLane:
    """``max_concurrency`` workers take claims from ``buffer``; the engine refills it ahead of
    need so database round trips overlap with deliveries."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.buffer: asyncio.Queue[Claim] = asyncio.Queue()
        self.held: dict[int, Claim] = {}
        """Claims buffered or in flight, by delivery id."""
        self.expires: dict[int, float] = {}
        """Monotonic time each held lease runs out (estimated from before the claim)."""
        self.requested = 0
        """Claims asked for by refills still waiting for the database."""
        self.stale: list[Claim] = []
        """Claims whose lease got too short to start an attempt: to hand back."""
        self.maybe_due = True
        """False after a claim came back short: ask ``due()`` before claiming again."""
        self.workers: list[asyncio.Task[None]] = []
        self._started: dict[int, float] = {}
        self.lease = timedelta(seconds=2 * target.timeout + LEASE_MARGIN)
        """Long enough for a wait in the buffer plus one attempt, when the receiver is fast."""
        self._busy = target.max_concurrency * target.batch_size
        """Claims the workers hold in flight at most."""
        # Claims the workers can start within the lease, per second of pace.
        self._startable = self._busy * (self.lease.total_seconds() - target.timeout - LEASE_MARGIN)
        self._most = max(PER_WORKER * self._busy, PREFETCH)
        self.depth = 0
        """Claims to hold: the workers' plus a buffer they can start within the lease."""
        self.pace = 0.05

    @property
    def pace(self) -> float:
        """Recent seconds per attempt (moving average); sets :attr:`depth`."""
        return self._pace

    @pace.setter
    def pace(self, seconds: float) -> None:
        self._pace = seconds
        startable = int(self._startable / max(seconds, 1e-3))
        self.depth = self._busy + max(1, min(self._most, startable))

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def room(self) -> int:
        return self.depth - len(self.held) - self.requested

    @property
    def hungry(self) -> bool:
        """Enough room to be worth a claim."""
        return self.room >= max(1, self.depth // REFILL_AT)

    def take(self, claims: list[Claim], expires: float) -> None:
        for claim in claims:
            self.held[claim.delivery_id] = claim
            self.expires[claim.delivery_id] = expires
            self.buffer.put_nowait(claim)

    def startable(self, claim: Claim) -> bool:
        """Whether an attempt started now ends before the lease does (otherwise another
        process may take the delivery while we send it)."""
        now = time.monotonic()
        if self.expires.get(claim.delivery_id, 0.0) - now <= self.target.timeout + 1.0:
            return False
        self._started[claim.delivery_id] = now
        return True

    def done(self, claim: Claim) -> None:
        self.held.pop(claim.delivery_id, None)
        self.expires.pop(claim.delivery_id, None)
        started = self._started.pop(claim.delivery_id, None)
        if started is not None:
            self.pace += 0.1 * (time.monotonic() - started - self.pace)
