"""The webhook sink: fan events out to endpoints, claim due deliveries, POST them, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import aiohttp

from unifyport.delivery.clock import Clock, SystemClock
from unifyport.delivery.context import SinkContext
from unifyport.delivery.types import Claim, Target, TargetState
from unifyport_webhook.batcher import OutcomeBatcher
from unifyport_webhook.config import Endpoint, WebhookConfig
from unifyport_webhook.retry import RetryPolicy
from unifyport_webhook.sender import attempt

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.05
LEASE_MARGIN = 10.0
"""A lease lasts the endpoint's timeout plus this (seconds)."""


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
        self._inflight: dict[str, dict[asyncio.Task[None], Claim]] = {}

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll."""
        self._wake.set()

    async def run(self, ctx: SinkContext) -> None:
        if not self.endpoints:
            return
        await ctx.queue.sync_targets([Target(e.name, e.events) for e in self.endpoints.values()])
        self.ctx = ctx
        connector = ctx.outbound.connector(
            limit=sum(e.max_concurrency for e in self.endpoints.values()))
        batcher = OutcomeBatcher(ctx.queue)
        batcher.start()
        self._inflight = {name: {} for name in self.endpoints}
        try:
            async with aiohttp.ClientSession(connector=connector) as session:
                while True:
                    busy = await self._tick(ctx, session, batcher)
                    if not busy:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
                        self._wake.clear()
        finally:
            await self._shutdown(ctx, batcher)

    async def _tick(
        self, ctx: SinkContext, session: aiohttp.ClientSession, batcher: OutcomeBatcher
    ) -> bool:
        now = self.clock.now()
        made = await ctx.queue.fan_out(now)
        states = {t.name: t for t in await ctx.queue.targets(counts=False)}
        await self._disable_failing(ctx, states)
        due = await ctx.queue.due(now)
        for name in due:
            state, endpoint = states.get(name), self.endpoints.get(name)
            if state is None or endpoint is None or not state.enabled:
                continue
            free = endpoint.max_concurrency - len(self._inflight[name])
            lease = timedelta(seconds=endpoint.timeout + LEASE_MARGIN)
            for claim in await ctx.queue.claim(name, free, now, lease):
                task = asyncio.create_task(self._deliver(ctx, session, endpoint, claim, batcher))
                self._inflight[name][task] = claim
        return made > 0

    async def _deliver(
        self, ctx: SinkContext, session: aiohttp.ClientSession, endpoint: Endpoint,
        claim: Claim, batcher: OutcomeBatcher,
    ) -> None:
        try:
            result = await attempt(session, endpoint, claim, self.clock, self.retry)
            batcher.add(result.outcome)
            if result.gone:
                log.warning("webhook endpoint %s answered 410 Gone; disabling it", endpoint.name)
                await batcher.flush()
                await ctx.queue.set_enabled(endpoint.name, False, "the receiver answered 410 Gone")
        finally:
            self._inflight[endpoint.name].pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._wake.set()

    async def _disable_failing(self, ctx: SinkContext, states: dict[str, TargetState]) -> None:
        now = self.clock.now()
        limit = timedelta(seconds=self.config.disable_after)
        for name, state in states.items():
            if state.enabled and state.failing_since is not None \
                    and now - state.failing_since >= limit and name in self.endpoints:
                log.warning("webhook endpoint %s failing since %s; disabling it", name,
                            state.failing_since.isoformat())
                await ctx.queue.set_enabled(
                    name, False, f"failing continuously since {state.failing_since.isoformat()}")

    async def _shutdown(self, ctx: SinkContext, batcher: OutcomeBatcher) -> None:
        """Cancel attempts in flight, hand their leases back, write the outcomes we have."""
        tasks = {t: c for by_ep in self._inflight.values() for t, c in by_ep.items()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await batcher.close()
            # Recorded outcomes already cleared their lease; release() skips those.
            await ctx.queue.release(list(tasks.values()))
        except Exception:
            log.exception("webhook sink shutdown could not record everything")
        self.ctx = None
