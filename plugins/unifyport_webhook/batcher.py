"""Outcomes written in batches: one transaction for everything finished since the last one."""

from __future__ import annotations

import asyncio
import logging

from unifyport.delivery.queue import DeliveryQueue
from unifyport.delivery.types import Outcome

log = logging.getLogger(__name__)


class OutcomeBatcher:
    """Collects outcomes and writes them while the next ones accumulate. An outcome lost in a
    crash only means a resend when the lease runs out (at least once)."""

    def __init__(self, queue: DeliveryQueue) -> None:
        self.queue = queue
        self._pending: list[Outcome] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._ready.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-outcomes")

    async def close(self) -> None:
        """Stop the writer and write what is left."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        self._ready.clear()
        if batch:
            await self.queue.complete(batch)

    async def _loop(self) -> None:
        while True:
            await self._ready.wait()
            try:
                await self.flush()
            except Exception:
                log.exception("could not record webhook outcomes; their leases will expire")
                await asyncio.sleep(1.0)
