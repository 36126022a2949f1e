"""The garbage-collection policy of a serving process (``serve``; ``bench/scale.py`` runs it
too, so its figures are the server's).

A server with thousands of online clients holds millions of long-lived objects (each
client's connection, session, tasks and caches). Python's cyclic collector rescans all of
them at every full collection, and a busy process runs one every few seconds: pauses of
hundreds of milliseconds that made most of the inbound latency's tail. The policy:

- the young generation is collected every :data:`YOUNG_THRESHOLD` allocations instead of 700
  (almost everything a request or a message allocates is freed by reference counting);
- what is alive once the app has started is frozen (``gc.freeze``: moved out of the
  collector's sight), and again whenever the unfrozen old generation has grown past
  :data:`REFREEZE_AT` objects (accounts came online), after collecting it: a full collection
  then scans only what was allocated since;
- frozen objects are still freed by reference counting, but cycles among them (those of a
  client that ended: its connection, tasks and callbacks refer to each other) only by a
  collection that sees them: once the clients that ended since the last one
  (:func:`client_ended`) are at least :data:`ENDED_SHARE` of those online
  (:func:`client_started`), everything is unfrozen, collected and frozen again, at most
  every :data:`FULL_INTERVAL` seconds. That pause grows with the heap (about a second with
  1,000 online clients on this project's 2-core machine, 4-5 s with 5,000; ``bench/scale.py``
  prints it), so it is taken only when the garbage it frees has grown in proportion (the
  rule Python applies to its own full collections, with 25% growth of the old
  generation): a lone reconnect never costs a whole-process pause, a network flap that ends
  every client's connection costs one pause per interval, and what ended clients hold
  stays below about a quarter of what the online ones hold (plus one interval's worth).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections (Python's default: 700)."""
CHECK_INTERVAL = 1.0
"""Seconds between looks at the unfrozen old generation (short: a re-freeze's pause grows
with what accumulated since the last, e.g. while a restart brings clients online)."""
REFREEZE_AT = 50_000
"""Unfrozen old objects that make a re-freeze (some fifty clients' worth)."""
FULL_INTERVAL = 600.0
"""Least seconds between full collections of everything (frozen objects included)."""
ENDED_SHARE = 0.25
"""Clients ended since the last full collection, as a share of those online, that make one."""
_started = 0
_ended = 0


def client_started() -> None:
    """Note that a client started (the runtime supervisor calls this)."""
    global _started
    _started += 1


def client_ended() -> None:
    """Note that a client ended (stopped, or about to reconnect): its cycles are frozen
    garbage that only a full collection reclaims (the runtime supervisor calls this)."""
    global _ended
    _ended += 1


def _full_due(ended_since: int) -> bool:
    """Whether ``ended_since`` ended clients are enough garbage for a full collection."""
    return ended_since > 0 and ended_since >= ENDED_SHARE * (_started - _ended)


class CollectorPolicy:
    """The policy's state; :func:`collector_policy` runs it while serving."""

    def __init__(self, refreeze_at: int = REFREEZE_AT, full_interval: float = FULL_INTERVAL
                 ) -> None:
        self.refreeze_at = refreeze_at
        self.full_interval = full_interval
        self.refreezes = 0
        self.full_collections = 0
        self.longest_refreeze = 0.0
        """The longest re-freeze so far (seconds)."""
        self._full_at = time.monotonic()
        self._ended = _ended
        self._thresholds = gc.get_threshold()

    def start(self) -> None:
        """Collect and freeze what start-up left alive; raise the young threshold."""
        self._thresholds = gc.get_threshold()
        self._freeze()
        gc.set_threshold(YOUNG_THRESHOLD, *self._thresholds[1:])

    def stop(self) -> None:
        """Restore the thresholds and unfreeze (the collector sees everything again)."""
        gc.set_threshold(*self._thresholds)
        gc.unfreeze()

    def step(self, now: float | None = None) -> None:
        """One look: a full collection when enough clients ended since the last one and it
        is due, else a re-freeze when the unfrozen old generation has grown past
        ``refreeze_at``."""
        now = time.monotonic() if now is None else now
        if now - self._full_at >= self.full_interval and _full_due(_ended - self._ended):
            self.collect_all()
        elif len(gc.get_objects(2)) >= self.refreeze_at:
            self.refreezes += 1
            self.longest_refreeze = max(self.longest_refreeze, _timed(self._freeze))

    def collect_all(self) -> float:
        """The full collection (everything unfrozen, collected, frozen again) now; returns
        how long it took (seconds)."""
        self._full_at, self._ended = time.monotonic(), _ended
        self.full_collections += 1
        return _timed(self._full)

    @staticmethod
    def _freeze() -> None:
        gc.collect()
        gc.freeze()

    def _full(self) -> None:
        gc.unfreeze()
        self._freeze()


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@asynccontextmanager
async def collector_policy(policy: CollectorPolicy | None = None,
                           interval: float = CHECK_INTERVAL) -> AsyncIterator[CollectorPolicy]:
    """Run ``policy`` (a new one by default) in this event loop until the block ends."""
    policy = policy or CollectorPolicy()
    policy.start()

    async def upkeep() -> None:
        while True:
            await asyncio.sleep(interval)
            policy.step()

    task = asyncio.create_task(upkeep(), name="collector-policy")
    try:
        yield policy
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        policy.stop()
