"""An event-loop watchdog: a timer that should fire every ``interval`` seconds measures how
late it runs. A late wake-up while the loop's thread was busy on the CPU means some code held
the loop (parsing, hashing, a synchronous call) and every other request waited for it."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Watches the running loop. ``longest`` is the longest wall-clock stall seen,
    ``longest_busy`` the longest one the loop's thread spent computing (a stall caused
    by the process not being scheduled on a busy machine, or by the garbage collector,
    does not count there); stalls
    busier than ``threshold`` seconds are logged and kept in ``stalls``."""

    def __init__(self, threshold: float, interval: float = 0.01) -> None:
        self.threshold = threshold
        self.interval = interval
        self.longest = 0.0
        self.longest_busy = 0.0
        self.stalls: list[float] = []
        self.culprit = ""
        """Where the loop's thread was when the longest stall was sampled (a stack)."""
        self.longest_gc = 0.0
        """The longest garbage-collector pause on the loop's thread (not counted as busy:
        its length depends on every object of the process, not on the code running)."""
        self._tick = time.monotonic()
        self._culprit_age = 0.0
        self._gc_started = 0.0
        self._gc_total = 0.0
        self._thread = 0

    async def run(self) -> None:
        stop = threading.Event()
        sampler = threading.Thread(target=self._sample, args=(threading.get_ident(), stop),
                                   name="loop-watchdog", daemon=True)
        sampler.start()
        self._thread = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        try:
            await self._tick_loop()
        finally:
            gc.callbacks.remove(self._on_gc)
            stop.set()

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if threading.get_ident() != self._thread:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            pause = time.thread_time() - self._gc_started
            self._gc_total += pause
            self.longest_gc = max(self.longest_gc, pause)

    def _sample(self, loop_thread: int, stop: threading.Event) -> None:
        """From another thread: note the loop thread's stack while a tick is overdue."""
        while not stop.wait(self.threshold / 2):
            late = time.monotonic() - self._tick - self.interval
            if late > max(self.threshold / 2, self._culprit_age):
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    self.culprit = "".join(traceback.format_stack(frame, limit=12))
                    self._culprit_age = late

    async def _tick_loop(self) -> None:
        while True:
            wall, cpu, collected = time.monotonic(), time.thread_time(), self._gc_total
            self._tick = wall
            await asyncio.sleep(self.interval)
            stall = time.monotonic() - wall - self.interval
            busy = min(stall, time.thread_time() - cpu - (self._gc_total - collected))
            self.longest = max(self.longest, stall)
            self.longest_busy = max(self.longest_busy, busy)
            if busy > self.threshold:
                self.stalls.append(busy)
                log.warning("event loop blocked for %.0f ms; it was at:\n%s", busy * 1000,
                            self.culprit)

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
