"""Task helpers of the runtime supervisor: reconnect backoff, start pacing."""

from __future__ import annotations

import asyncio
import random

BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 20)))


class StartPacer:
    """Spaces client starts at most ``rate`` per second, in the order they ask: after a
    restart with thousands of online accounts, connections open at a steady pace instead of
    all at once (the provider's server and its flood limits see a bounded rate)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        """Until this caller's slot; each call takes the next free slot."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._next)
        self._next = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)
