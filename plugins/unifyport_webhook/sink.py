"""The webhook sink: fan events out to endpoints, claim due deliveries, POST them, record.

The main loop does one database transaction per cycle (record finished attempts, fan out new
events, refill each endpoint's buffer), with at most :data:`MAX_CYCLES` in flight; workers
only send. A worker never starts an attempt that could outlive its lease: such a claim is
handed back unattempted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from unifyport.delivery.clock import Clock, SystemClock
from unifyport.delivery.context import SinkContext
from unifyport.delivery.types import Claim, Outcome, Target, TargetState
from unifyport_webhook.config import WebhookConfig
from unifyport_webhook.lane import EndpointLane
from unifyport_webhook.retry import RetryPolicy
from unifyport_webhook.sender import attempt

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
"""How often (seconds) endpoint state (enabled, failing since) is re-read."""
ERROR_PAUSE = 1.0
MAX_CYCLES = 2
"""Cycles (database transactions) in flight at once."""


class WebhookSink:
    """Registered as sink ``webhook``. ``clock`` decides when retries are due (tests replace
    it with :class:`unifyport.delivery.clock.ManualClock`)."""

    name = "webhook"

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.endpoints = {e.name: e for e in config.endpoints}
        self.retry = RetryPolicy(config.retry_schedule, config.retry_jitter)
        self.clock: Clock = SystemClock()
        self.ctx: SinkContext | None = None
        self._wake = asyncio.Event()
        self._lanes: dict[str, EndpointLane] = {}
        self._states: dict[str, TargetState] = {}
        self._states_at = 0.0
        self._outcomes: list[Outcome] = []
        self._outcomes_since = 0.0
        self._new_events = True
        self._fanning = False
        """A cycle is fanning out (the other one then claims without waiting for it)."""
        self._polled_at = 0.0

    def wake(self, refresh: bool = True) -> None:
        """Look for work now instead of at the next poll (``refresh``: re-read endpoint
        state too, e.g. after it was enabled)."""
        if refresh:
            self._states_at = 0.0
        self._polled_at = 0.0
        for lane in self._lanes.values():
            lane.maybe_due = True
        self._wake.set()

    def _events_committed(self) -> None:
        self._new_events = True
        self._wake.set()

    async def run(self, ctx: SinkContext) -> None:
        if not self.endpoints:
            return
        await ctx.queue.sync_targets([Target(e.name, e.events) for e in self.endpoints.values()])
        self.ctx = ctx
        connector = ctx.outbound.connector(
            limit=sum(e.max_concurrency for e in self.endpoints.values()))
        unsubscribe = ctx.queue.on_new_events(self._events_committed)
        self._lanes = {name: EndpointLane(e) for name, e in self.endpoints.items()}
        held: list[Claim] = []
        try:
            async with aiohttp.ClientSession(connector=connector) as session:
                for lane in self._lanes.values():
                    lane.workers = [asyncio.create_task(self._work(ctx, session, lane))
                                    for _ in range(lane.endpoint.max_concurrency)]
                try:
                    await self._loop(ctx)
                finally:
                    # Before the session closes: workers left running would fail every
                    # buffered claim on the closed session instead of handing it back.
                    held = await self._stop_workers()
        finally:
            unsubscribe()
            await self._shutdown(ctx, held)

    async def _loop(self, ctx: SinkContext) -> None:
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
                    cycles.add(asyncio.ensure_future(self._cycle(ctx)))
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
                        log.exception("webhook delivery cycle failed; retrying")
                        await asyncio.sleep(ERROR_PAUSE)
                        go = True
        finally:
            # Let transactions in progress finish: cancelling one mid-way can leave
            # SQLite's write lock held until the connection is reclaimed.
            await asyncio.gather(*cycles, return_exceptions=True)

    async def _cycle(self, ctx: SinkContext) -> bool:
        """Record, fan out, refill. True when more work is likely right away.

        The database is only touched when there is something to do: a lane to refill, a
        batch of outcomes to record, new events from this process, or the periodic poll.
        One cycle at a time fans out (it locks the targets): the other claims meanwhile."""
        now = self.clock.now()
        mono = time.monotonic()
        if mono - self._states_at > STATE_REFRESH:
            self._states_at = mono  # another cycle may start while this one reads
            self._states = {t.name: t for t in await ctx.queue.targets(counts=False)}
            self._states_at = time.monotonic()
            await self._disable_failing(ctx)
        for lane in self._lanes.values():
            stale, lane.stale = lane.stale, []
            await ctx.queue.release(stale)  # nothing to write: no transaction
        poll = mono - self._polled_at >= POLL_INTERVAL
        if poll:
            self._polled_at = mono
        if self._fanning:
            fan = new_events = False
        else:
            new_events, self._new_events = self._new_events, False
            fan = self._fanning = new_events or poll
        try:
            made, more = await self._refill(ctx, now, mono, fan, new_events, poll)
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

    async def _refill(self, ctx: SinkContext, now: datetime, mono: float, fan: bool,
                      new_events: bool, poll: bool) -> tuple[int, bool]:
        """Fan out if ``fan``, record outcomes if due, refill the hungry lanes that may have
        due deliveries. Returns (deliveries made, whether a lane could take more now)."""
        lanes = [lane for lane in self._lanes.values() if self._enabled(lane.name) and lane.hungry]
        unsure = [lane for lane in lanes if not lane.maybe_due]
        if unsure and poll and not new_events:
            due = await ctx.queue.due(now)
            for lane in unsure:
                lane.maybe_due = lane.name in due
        wanted = [lane for lane in lanes if lane.maybe_due or new_events]
        record = len(self._outcomes) >= RECORD_MAX or (
            self._outcomes and mono - self._outcomes_since >= RECORD_DELAY)
        if not wanted and not record:
            made = await ctx.queue.fan_out(now) if fan else 0  # one read if nothing is new
            return made, False
        outcomes, self._outcomes = self._outcomes, []
        since = self._outcomes_since
        claimed_at = time.monotonic()  # before the claim: leases end no earlier than this + lease
        wants = {lane.name: (lane.room, lane.lease) for lane in wanted}
        for lane in wanted:
            lane.requested += wants[lane.name][0]
        try:
            made, got = await ctx.queue.exchange(now, outcomes, wants, fan_out=fan)
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

    async def _work(self, ctx: SinkContext, session: aiohttp.ClientSession,
                    lane: EndpointLane) -> None:
        while True:
            claim = await lane.buffer.get()
            try:
                if not lane.startable(claim):
                    lane.stale.append(claim)
                    continue
                result = await attempt(session, lane.endpoint, claim, self.clock, self.retry)
                if result.gone:
                    log.warning("webhook endpoint %s answered 410 Gone; disabling it", lane.name)
                    await ctx.queue.complete([result.outcome])
                    await ctx.queue.set_enabled(lane.name, False, "the receiver answered 410 Gone")
                    self.wake()
                else:
                    if not self._outcomes:
                        self._outcomes_since = time.monotonic()
                    self._outcomes.append(result.outcome)
            except Exception:
                log.exception("webhook delivery to %s failed unexpectedly", lane.name)
            finally:
                lane.done(claim)
            if lane.hungry or len(self._outcomes) >= RECORD_MAX:
                self._wake.set()

    async def _disable_failing(self, ctx: SinkContext) -> None:
        now = self.clock.now()
        limit = timedelta(seconds=self.config.disable_after)
        for name, state in self._states.items():
            if state.enabled and state.failing_since is not None \
                    and now - state.failing_since >= limit and name in self.endpoints:
                log.warning("webhook endpoint %s failing since %s; disabling it", name,
                            state.failing_since.isoformat())
                await ctx.queue.set_enabled(
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

    async def _shutdown(self, ctx: SinkContext, held: list[Claim]) -> None:
        """Write the outcomes we have, hand unattempted leases back."""
        try:
            outcomes, self._outcomes = self._outcomes, []
            await ctx.queue.complete(outcomes)
            # Recorded outcomes already cleared their lease; release() skips those.
            await ctx.queue.release(held)
        except Exception:
            log.exception("webhook sink shutdown could not record everything")
        self.ctx = None
