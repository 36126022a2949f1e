"""What the delivery engine makes of a sink that misbehaves: an exception or an attempt past
the target's timeout is a retryable failure in the log (the exception's message is not
logged), never a lost delivery."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.support.gateway import make_settings
from tests.support.memorysink import MemoryFarSide, MemorySink
from unifyport.events.sinks import Claim, DeliveryResult, RetryPolicy, Target
from unifyport.testing.sinks import KitRun, until

SECRET = "a message body that must not reach the log"


class _Misbehaving(MemorySink):
    async def deliver(self, claim: Claim) -> DeliveryResult:
        if claim.target == "raises":
            raise RuntimeError(SECRET)
        await asyncio.sleep(30)  # target "hangs": far past its timeout
        raise AssertionError("not cancelled")


async def test_exceptions_and_timeouts_are_retryable_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sink = _Misbehaving(MemoryFarSide(), [Target("raises"), Target("hangs", timeout=0.2)],
                        RetryPolicy((0.0, 60.0), jitter=0.0))
    run = KitRun(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}",
                 make_settings(tmp_path / "data"), sink)
    try:
        await run.start()
        [eid] = await run.emit(1)

        async def recorded() -> bool:
            ds = await run.deliveries(eid)
            return len(ds) == 2 and all(d["attempts"] for d in ds)

        await until(recorded, "both attempts recorded")
        deliveries = await run.deliveries(eid)
    finally:
        await run.stop()
    assert {d["endpoint"]: [(a["attempt"], a["error"]) for a in d["attempts"]]
            for d in deliveries} == {"raises": [(1, "sink error: RuntimeError")],
                                     "hangs": [(1, "timeout: no response within 0.2 s")]}
    assert {d["status"] for d in deliveries} == {"pending"}  # to be retried
    assert "RuntimeError" in caplog.text and SECRET not in caplog.text
