"""The event-loop watchdog logs, with each stall, where the loop's thread was during that
stall (not the stack of an earlier, longer one)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from unifyport.loopwatch import LoopWatchdog


def _spin_first(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _spin_second(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_each_stall_is_logged_with_its_own_stack(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    caplog.set_level(logging.WARNING, logger="unifyport.loopwatch")
    async with LoopWatchdog(0.03).watching() as watchdog:
        await asyncio.sleep(0.05)
        _spin_first(0.09)  # the longer stall first (under the suite's 100 ms report)
        await asyncio.sleep(0.05)
        _spin_second(0.06)
        await asyncio.sleep(0.05)
    stalls = [r.getMessage() for r in caplog.records if "blocked for" in r.getMessage()]
    # (the suite's own watchdog logs stalls too)
    assert [m for m in stalls if "_spin_second" in m and "_spin_first" not in m], stalls
    assert "_spin_first" in watchdog.culprit  # the longest stall's
