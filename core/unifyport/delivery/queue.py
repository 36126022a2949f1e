"""The delivery queue of one sink: what a sink plugin uses instead of the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from unifyport.db.database import Database
from unifyport.delivery import admin, fanout, leases, notify
from unifyport.delivery.types import Outcome
from unifyport.events.sinks import Claim, Target, TargetState
from unifyport.metrics import observe_outcomes

SYNC_TRIES = 3


class DeliveryQueue:
    """Durable per-(sink, target) deliveries of the event stream, stored in the database so
    several server processes can share the work. Every method runs its own transaction; the
    busy ones (fan-out, claims, outcomes) through ``Database.run``."""

    def __init__(self, db: Database, sink: str) -> None:
        self.db = db
        self.sink = sink
        self._targets: tuple[str, ...] = ()
        self._cursor = -1
        self._start: int | None = None
        self._maybe_failing: set[str] | None = None
        """Targets whose stored ``failing_since`` may be set (None: unknown). A success
        clears it only for these: the clearing is one statement, a round trip on
        PostgreSQL, and a no-op almost always. Another process's failure shows up with the
        next :meth:`targets` read (the webhook sink reads every second)."""

    async def mark_start(self) -> None:
        """Note the newest event as the server starts: a target declared later (the sink task
        runs after start-up) still receives every event committed after this point."""
        self._start = await self.db.run(fanout.newest_seq, write=False)

    async def sync_targets(self, targets: Sequence[Target]) -> None:
        """Declare the sink's targets. A new target receives events created from now on (or
        since :meth:`mark_start`); an existing one keeps its state and gets the new patterns."""
        for tries_left in reversed(range(SYNC_TRIES)):
            try:
                await self.db.run(
                    lambda c: fanout.sync_targets(c, self.sink, targets, self._start))
                break
            except IntegrityError:
                # Another process inserted the same new target first (PostgreSQL: both saw
                # it missing); the next try finds its row.
                if not tries_left:
                    raise
        self._targets = tuple(t.name for t in targets)
        self._cursor = -1
        self._maybe_failing = None

    def track(self, names: Sequence[str]) -> None:
        """Fan out to these targets from now on (their rows exist or will be skipped: stored
        endpoints get theirs when created, through the API)."""
        self._targets = tuple(names)
        self._cursor = -1
        self._maybe_failing = None

    async def fan_out(self, now: datetime) -> int:
        """Create deliveries for events not yet fanned out (each target's patterns); returns
        how many. Cheap when there is nothing new (one read)."""
        if not self._targets:
            return 0
        targets = self._targets
        if self._cursor >= 0 and await self.db.run(fanout.newest_seq, write=False) <= self._cursor:
            return 0
        made, cursor = await self.db.run(lambda c: fanout.fan_out(c, self.sink, targets, now))
        self._advance(targets, cursor)
        return made

    async def exchange(
        self,
        now: datetime,
        outcomes: Sequence[Outcome],
        wants: Mapping[str, tuple[int, timedelta]],
        fan_out: bool = True,
    ) -> tuple[int, dict[str, list[Claim]]]:
        """One transaction for a sink's whole cycle: record ``outcomes``, fan out new events
        (unless ``fan_out`` is false: the caller knows of none), then claim up to
        ``wants[target] = (limit, lease)`` per target. Returns (deliveries created, claims by
        target). Fewer transactions matter on SQLite's single writer."""
        targets, cursor = self._targets if fan_out else (), self._cursor
        failing = self._failing_now()

        def cycle(c: Connection) -> tuple[int, int, dict[str, list[Claim]]]:
            made, new_cursor = 0, cursor
            # Fan-out first: it locks the sink's targets in name order, as complete() does.
            if targets and (cursor < 0 or fanout.newest_seq(c) > cursor):
                made, new_cursor = fanout.fan_out(c, self.sink, targets, now)
            leases.complete(c, self.sink, outcomes, failing)
            got = {
                target: leases.claim(c, self.sink, target, limit, now, lease)
                for target, (limit, lease) in wants.items()
                if limit > 0
            }
            return made, new_cursor, got

        made, new_cursor, got = await self.db.run(cycle)
        if targets:
            self._advance(targets, new_cursor)
        self._recorded(outcomes, failing)
        return made, got

    def _advance(self, targets: tuple[str, ...], cursor: int) -> None:
        """Note that a pass over ``targets`` fanned out up to ``cursor``, unless :meth:`track`
        changed the targets while it ran: a target added meanwhile was not in the pass, and
        the cursor :meth:`track` reset must stay reset, or that target would miss the events
        the pass saw until a newer one is committed."""
        if targets == self._targets:
            self._cursor = max(self._cursor, cursor)  # another cycle may have gone further

    def _failing_now(self) -> set[str] | None:
        """A copy of the targets that may be failing, for one transaction."""
        return None if self._maybe_failing is None else set(self._maybe_failing)

    def _recorded(self, outcomes: Sequence[Outcome], failing: set[str] | None) -> None:
        """Track which targets may be failing after ``outcomes`` were recorded by a
        transaction that knew ``failing`` (the ones it cleared stay cleared)."""
        observe_outcomes(self.db, self.sink, outcomes)
        ok = {o.claim.target for o in outcomes if o.result == "succeeded"}
        if self._maybe_failing is None:
            self._maybe_failing = set(self._targets)
        self._maybe_failing -= ok if failing is None else ok & failing
        self._maybe_failing |= {o.claim.target for o in outcomes} - ok

    def on_new_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` whenever this process commits events (a hint to fan out now;
        events from other processes are found by polling). Returns the unsubscribe."""
        return notify.subscribe(callback)

    async def claim(
        self, target: str, limit: int, now: datetime, lease: timedelta
    ) -> list[Claim]:
        """Lease up to ``limit`` deliveries of ``target`` due at ``now``. Deliver each outside
        any transaction within ``lease`` (else another worker may take it), then report."""
        if limit <= 0:
            return []
        return await self.db.run(lambda c: leases.claim(c, self.sink, target, limit, now, lease))

    async def complete(self, outcomes: Sequence[Outcome]) -> None:
        """Record attempts and their results (one transaction for the batch)."""
        if outcomes:
            failing = self._failing_now()
            await self.db.run(lambda c: leases.complete(c, self.sink, outcomes, failing))
            self._recorded(outcomes, failing)

    async def release(self, claims: Sequence[Claim]) -> None:
        """Hand back leases that were not attempted (shutdown)."""
        if claims:
            await self.db.run(lambda c: leases.release(c, claims))

    async def targets(self, counts: bool = True) -> list[TargetState]:
        """Stored state of every target of this sink (delivery counts only if ``counts``)."""
        async with self.db.read() as s:
            states = await admin.target_states(s, self.sink, counts)
        if self._maybe_failing is not None:
            self._maybe_failing |= {t.name for t in states if t.failing_since is not None}
        return states

    async def due(self, now: datetime) -> set[str]:
        """Names of targets with deliveries due at ``now`` (one read)."""
        return await self.db.run(lambda c: leases.due_targets(c, self.sink, now), write=False)

    async def set_enabled(self, target: str, enabled: bool, reason: str | None = None) -> bool:
        """Enable or disable ``target`` (disabling fails its pending deliveries)."""
        async with self.db.write() as s:
            return await admin.set_enabled(s, self.sink, target, enabled, reason)

    async def recover(self, target: str, since: datetime, now: datetime) -> int:
        """Requeue the failed deliveries of ``target`` for events since ``since``."""
        async with self.db.write() as s:
            return await admin.recover(s, self.sink, target, since, now)
