"""The delivery engine of one sink: fan events out to its targets, claim due deliveries, hand
each to the sink's ``deliver``, and record what happened.

The main loop does one database transaction per cycle (record finished attempts, fan out new
events, refill each target's buffer), with at most :data:`MAX_CYCLES` in flight; workers only
deliver. A worker never starts an attempt that could outlive its lease: such a claim is handed
back unattempted. Each attempt is cancelled at its target's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from unifyport.delivery.attempts import attempt
from unifyport.delivery.clock import Clock, SystemClock
from unifyport.delivery.lanes import TargetLane
from unifyport.delivery.queue import DeliveryQueue
from unifyport.delivery.types import Outcome
from unifyport.events.sinks import (
    Claim,
    EventSink,
    RunningSink,
    SinkContext,
    Target,
    TargetState,
)
from unifyport.outbound.policy import OutboundPolicy
from unifyport.settings import Settings
from unifyport.webhooks.directory import EndpointDirectory

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.05
"""Idle poll for events and due retries written by other processes or other clocks."""
RECORD_DELAY = 0.2
"""Longest a finished attempt waits to be recorded (plus a poll). Outcomes ride along with
the next refill; a transaction of their own only when none came in time, so a busy lane's
refills never queue behind one."""
RECORD_MAX = 1024
"""Finished attempts that are recorded at once, without waiting for a refill."""
STATE_REFRESH = 1.0
"""How often (seconds) target state (enabled, failing since) is re-read."""
ERROR_PAUSE = 1.0
MAX_CYCLES = 2
"""Cycles (database transactions) in flight at once."""


class DeliveryEngine:
    """Drives ``sink`` over ``queue``; also the sink's :class:`SinkControl`. ``clock`` decides
    when retries are due (tests replace it with :class:`~unifyport.delivery.clock.ManualClock`);
    leases always run on wall-clock time."""

    def __init__(self, sink: EventSink, queue: DeliveryQueue, settings: Settings,
                 outbound: OutboundPolicy | None = None,
                 directory: EndpointDirectory | None = None) -> None:
        self.sink = sink
        self.queue = queue
        self.clock: Clock = SystemClock()
        self.directory = directory
        """The endpoints stored through the API, for the sink that delivers them: their
        lanes come and go as the directory changes (re-read with the target state)."""
        self.context = SinkContext(queue.sink, settings,
                                   outbound or OutboundPolicy.from_settings(settings), self,
                                   directory)
        self._own: list[Target] = []
        self._wake = asyncio.Event()
        self._lanes: dict[str, TargetLane] = {}
        self._states: dict[str, TargetState] = {}
        self._states_at = 0.0
        self._outcomes: list[Outcome] = []
        self._outcomes_since = 0.0
        self._new_events = True
        self._fanning = False
        """A cycle is fanning out (the other one then claims without waiting for it)."""
        self._polled_at = 0.0

    # --- SinkControl ---------------------------------------------------------------------

    async def target_states(self) -> list[TargetState]:
        return await self.queue.targets()

    async def set_enabled(self, target: str, enabled: bool, reason: str | None = None) -> bool:
        changed = await self.queue.set_enabled(target, enabled, reason)
        self.wake()
        return changed

    async def recover(self, target: str, since: datetime) -> int:
        count = await self.queue.recover(target, since, self.clock.now())
        self.wake()
        return count

    # --- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        """Re-read target state and look for work now instead of at the next poll (e.g.
        after a target was enabled)."""
        self._states_at = 0.0
        self._polled_at = 0.0
        for lane in self._lanes.values():
            lane.maybe_due = True
        self._wake.set()

    def _events_committed(self) -> None:
        self._new_events = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; on the way out, record what finished and hand back the
        leases not attempted."""
        targets = self._own = list(self.sink.targets())
        if self.directory is not None:
            await self.directory.refresh()
        elif not targets:
            return
        await self.queue.sync_targets(targets)
        if self.directory is not None:
            targets = [*targets, *self.directory.targets()]
            self.queue.track([t.name for t in targets])
        unsubscribe = self.queue.on_new_events(self._events_committed)
        self._lanes = {t.name: TargetLane(t) for t in targets}
        self._outcomes, self._states, self._states_at = [], {}, 0.0
        held: list[Claim] = []
        try:
            async with self._sink_running():
                for lane in self._lanes.values():
                    self._start_workers(lane)
                try:
                    await self._loop()
                finally:
                    # Before the sink closes its clients: workers left running would fail
                    # every buffered claim instead of handing it back.
                    held = await self._stop_workers()
        finally:
            unsubscribe()
            await self._shutdown(held)

    def _start_workers(self, lane: TargetLane) -> None:
        lane.workers = [asyncio.create_task(self._work(lane))
                        for _ in range(lane.target.max_concurrency)]

    async def _sync_stored(self) -> None:
        """Lanes for the stored endpoints the directory lists now: new ones start, deleted
        ones stop (their rows are gone already: see :meth:`forget`)."""
        assert self.directory is not None
        await self.directory.refresh()
        wanted = {t.name: t for t in [*self._own, *self.directory.targets()]}
        if wanted.keys() == self._lanes.keys():
            return
        for name in [n for n in self._lanes if n not in wanted]:
            self.forget(name)
        for name, target in wanted.items():
            if name not in self._lanes:
                lane = self._lanes[name] = TargetLane(target)
                self._start_workers(lane)
        self.queue.track(list(self._lanes))

    def forget(self, name: str) -> None:
        """Stop delivering to stored endpoint ``name`` at once (it was deleted): cancel its
        attempts in flight and drop what it holds and what it did not record yet."""
        if self.directory is not None:
            self.directory.forget(name)
        lane = self._lanes.pop(name, None)
        if lane is None:
            return
        for task in lane.workers:
            task.cancel()
        self._outcomes = [o for o in self._outcomes if o.claim.target != name]
        self.queue.track(list(self._lanes))

    @contextlib.asynccontextmanager
    async def _sink_running(self) -> AsyncIterator[None]:
        if isinstance(self.sink, RunningSink):
            async with self.sink.running(self.context):
                yield
        else:
            yield

    async def _loop(self) -> None:
        """Cycle until cancelled. A wake (a hungry lane, new events) starts a cycle even while
        one waits for the database, up to :data:`MAX_CYCLES`: on PostgreSQL a refill's round
        trips then overlap the next instead of leaving the workers without claims. Idle, the
        loop waits for a wake or the next poll."""
        cycles: set[asyncio.Future[bool]] = set()
        go = True
        try:
            while True:
                if go and len(cycles) < MAX_CYCLES:
                    self._wake.clear()
                    cycles.add(asyncio.ensure_future(self._cycle()))
                    go = False
                waits: set[asyncio.Future[Any]] = set(cycles)
                if not go:  # else a cycle finishing makes room for the one to start
                    waits.add(asyncio.ensure_future(self._wake.wait()))
                try:
                    done, _ = await asyncio.wait(
                        waits, timeout=None if cycles else POLL_INTERVAL,
                        return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waits - cycles:
                        waiter.cancel()
                go = go or not done or bool(done - cycles)  # woken, or the poll is due
                for cycle in done & cycles:
                    cycles.discard(cycle)
                    try:
                        go = cycle.result() or go
                    except Exception:
                        log.exception("delivery cycle of sink %s failed; retrying",
                                      self.queue.sink)
                        await asyncio.sleep(ERROR_PAUSE)
                        go = True
        finally:
            # Let transactions in progress finish: cancelling one mid-way can leave
            # SQLite's write lock held until the connection is reclaimed.
            await asyncio.gather(*cycles, return_exceptions=True)

    async def _cycle(self) -> bool:
        """Record, fan out, refill. True when more work is likely right away.

        The database is only touched when there is something to do: a lane to refill, a
        batch of outcomes to record, new events from this process, or the periodic poll.
        One cycle at a time fans out (it locks the targets): the other claims meanwhile."""
        now = self.clock.now()
        mono = time.monotonic()
        if mono - self._states_at > STATE_REFRESH:
            self._states_at = mono  # another cycle may start while this one reads
            if self.directory is not None:
                await self._sync_stored()
            self._states = {t.name: t for t in await self.queue.targets(counts=False)}
            self._states_at = time.monotonic()
            await self._disable_failing()
        for lane in self._lanes.values():
            stale, lane.stale = lane.stale, []
            await self.queue.release(stale)  # nothing to write: no transaction
        poll = mono - self._polled_at >= POLL_INTERVAL
        if poll:
            self._polled_at = mono
        if self._fanning:
            fan = new_events = False
        else:
            new_events, self._new_events = self._new_events, False
            fan = self._fanning = new_events or poll
        try:
            made, more = await self._refill(now, mono, fan, new_events, poll)
        except Exception:
            self._new_events = self._new_events or new_events  # not fanned out yet
            raise
        finally:
            if fan:
                self._fanning = False
        if made:
            self._new_events = True  # a pass has a limit: maybe more to fan out
            for lane in self._lanes.values():
                lane.maybe_due = True
        return made > 0 or more

    async def _refill(self, now: datetime, mono: float, fan: bool, new_events: bool,
                      poll: bool) -> tuple[int, bool]:
        """Fan out if ``fan``, record outcomes if due, refill the hungry lanes that may have
        due deliveries. Returns (deliveries made, whether a lane could take more now)."""
        lanes = [lane for lane in self._lanes.values() if self._enabled(lane.name) and lane.hungry]
        unsure = [lane for lane in lanes if not lane.maybe_due]
        if unsure and poll and not new_events:
            due = await self.queue.due(now)
            for lane in unsure:
                lane.maybe_due = lane.name in due
        wanted = [lane for lane in lanes if lane.maybe_due or new_events]
        record = len(self._outcomes) >= RECORD_MAX or (
            self._outcomes and mono - self._outcomes_since >= RECORD_DELAY)
        if not wanted and not record:
            made = await self.queue.fan_out(now) if fan else 0  # one read if nothing is new
            return made, False
        # Outcomes of a target forgotten meanwhile (a deleted endpoint) have no rows left.
        outcomes = [o for o in self._outcomes if o.claim.target in self._lanes]
        self._outcomes = []
        since = self._outcomes_since
        claimed_at = time.monotonic()  # before the claim: leases end no earlier than this + lease
        wants = {lane.name: (lane.room, lane.lease) for lane in wanted}
        for lane in wanted:
            lane.requested += wants[lane.name][0]
        try:
            made, got = await self.queue.exchange(now, outcomes, wants, fan_out=fan)
        except Exception:
            self._outcomes[:0] = outcomes  # nothing was written; try again next cycle
            self._outcomes_since = since
            raise
        finally:
            for lane in wanted:
                lane.requested -= wants[lane.name][0]
        more = False
        for lane in wanted:
            claims = got.get(lane.name, [])
            lane.take(claims, claimed_at + lane.lease.total_seconds())
            lane.maybe_due = len(claims) == wants[lane.name][0]  # a full batch: maybe more
            more = more or (lane.maybe_due and lane.hungry)
        return made, more

    def _enabled(self, name: str) -> bool:
        state = self._states.get(name)
        return state is None or state.enabled

    async def _work(self, lane: TargetLane) -> None:
        batch = lane.target.batch_size
        while True:
            claims = [await lane.buffer.get()]
            while len(claims) < batch and not lane.buffer.empty():
                claims.append(lane.buffer.get_nowait())
            try:
                ready: list[Claim] = []
                for claim in claims:
                    (ready if lane.startable(claim) else lane.stale).append(claim)
                results = await attempt(self.sink, lane.target, ready, self.clock) if ready else []
                for outcome, disable in results:
                    if disable is not None:
                        await self._disable(lane, outcome, disable)
                        continue
                    if not self._outcomes:
                        self._outcomes_since = time.monotonic()
                    self._outcomes.append(outcome)
            except Exception:
                log.exception("delivery to %s/%s failed unexpectedly", self.queue.sink,
                              lane.name)
            finally:
                for claim in claims:
                    lane.done(claim)
            if lane.hungry or len(self._outcomes) >= RECORD_MAX:
                self._wake.set()

    async def _disable(self, lane: TargetLane, outcome: Outcome, reason: str) -> None:
        """Record ``outcome`` at once and disable its target, as the sink asked."""
        log.warning("sink %s disabling target %s: %s", self.queue.sink, lane.name, reason)
        await self.queue.complete([outcome])
        await self.queue.set_enabled(lane.name, False, reason)
        self.wake()

    async def _disable_failing(self) -> None:
        after = self.sink.retry.disable_after
        if after is None:
            return
        now = self.clock.now()
        limit = timedelta(seconds=after)
        for name, state in self._states.items():
            if state.enabled and state.failing_since is not None \
                    and now - state.failing_since >= limit and name in self._lanes:
                log.warning("sink %s target %s failing since %s; disabling it", self.queue.sink,
                            name, state.failing_since.isoformat())
                await self.queue.set_enabled(
                    name, False, f"failing continuously since {state.failing_since.isoformat()}")
                self._states_at = 0.0

    async def _stop_workers(self) -> list[Claim]:
        """Cancel the workers; the claims they held (buffered, in flight or stale)."""
        held = [c for lane in self._lanes.values() for c in [*lane.held.values(), *lane.stale]]
        workers = [w for lane in self._lanes.values() for w in lane.workers]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return held

    async def _shutdown(self, held: list[Claim]) -> None:
        """Write the outcomes we have, hand unattempted leases back."""
        try:
            outcomes, self._outcomes = self._outcomes, []
            await self.queue.complete(outcomes)
            # Recorded outcomes already cleared their lease; release() skips those.
            await self.queue.release(held)
        except Exception:
            log.exception("sink %s shutdown could not record everything", self.queue.sink)
