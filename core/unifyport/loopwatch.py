"""An event-loop watchdog: a timer that should fire every ``interval`` seconds measures how
late it runs. A late wake-up while the loop's thread was busy on the CPU means some code held
the loop (parsing, hashing, a synchronous call) and every other request waited for it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Watches the running loop. ``longest`` is the longest wall-clock stall seen,
    ``longest_busy`` the longest one the loop's thread spent computing (a stall caused
    by the process not being scheduled on a busy machine does not count there); stalls
    busier than ``threshold`` seconds are logged and kept in ``stalls``."""

    def __init__(self, threshold: float, interval: float = 0.01) -> None:
        self.threshold = threshold
        self.interval = interval
        self.longest = 0.0
        self.longest_busy = 0.0
        self.stalls: list[float] = []

    async def run(self) -> None:
        while True:
            wall, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(self.interval)
            stall = time.monotonic() - wall - self.interval
            busy = min(stall, time.thread_time() - cpu)
            self.longest = max(self.longest, stall)
            self.longest_busy = max(self.longest_busy, busy)
            if busy > self.threshold:
                self.stalls.append(busy)
                log.warning("event loop blocked for %.0f ms", busy * 1000)

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[LoopWatchdog]:
        """Watch the running loop for the duration of the block."""
        task = asyncio.create_task(self.run(), name="loop-watchdog")
        try:
            yield self
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def serving_watchdog(threshold_ms: int) -> Callable[[], AsyncGenerator[None, None]]:
    """For ``app.while_serving``: log every stall over ``threshold_ms`` while serving."""

    async def watch() -> AsyncGenerator[None, None]:
        async with LoopWatchdog(threshold_ms / 1000).watching():
            yield

    return watch
