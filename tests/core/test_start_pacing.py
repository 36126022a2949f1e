"""``[runtime] start_rate``: client starts after a restart are spaced, never all at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.core.test_runtime import authorized, runtime_is, until
from tests.support.gateway import CORE_ONLY, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.errors import ConfigError
from unifyport.runtime.tasks import StartPacer

RATE = 20.0
ACCOUNTS = 8


class StampingProvider(TestProvider):
    """Records when each client starts (the moment it would connect)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[float] = []

    async def run_runtime(self, ctx):  # type: ignore[no-untyped-def]
        self.started.append(time.monotonic())
        await super().run_runtime(ctx)


async def test_starts_after_a_restart_are_paced(data_dir: Path) -> None:
    settings = make_settings(data_dir, CORE_ONLY + f"[runtime]\nstart_rate = {RATE}\n")
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        accounts = [await authorized(api) for _ in range(ACCOUNTS)]
        for acc in accounts:
            await api.post(f"/v1/accounts/{acc}/runtime/start")
    provider = StampingProvider()
    restarted = time.monotonic()
    async with running(settings, (("testprov", TestPlugin(provider)),)) as api:
        for acc in accounts:
            await until(runtime_is(api, acc, "running"))
    assert len(provider.started) == ACCOUNTS
    # Slots are 1/RATE apart from the first (taken after the restart); a client reads its
    # account after its slot, so single gaps vary with that read, but the last start can
    # come no sooner than its slot (1 ms: the event loop's clock resolution).
    assert provider.started[-1] - restarted >= (ACCOUNTS - 1) / RATE - 0.001, provider.started


async def test_pacer_slots_are_spaced() -> None:
    pacer = StartPacer(RATE)
    began = asyncio.get_running_loop().time()
    released: list[float] = []

    async def start() -> None:
        await pacer.wait()
        released.append(asyncio.get_running_loop().time())

    await asyncio.gather(*(start() for _ in range(ACCOUNTS)))
    for i, at in enumerate(sorted(released)):
        assert at >= began + i / RATE - 0.001


@pytest.mark.parametrize("value", ["0", "-1", '"fast"', "true", "20000"])
def test_start_rate_is_checked(data_dir: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"runtime\.start_rate"):
        make_settings(data_dir, f"[runtime]\nstart_rate = {value}\n")


def test_start_rate_default_and_value(data_dir: Path) -> None:
    assert make_settings(data_dir).runtime.start_rate == 100.0
    assert make_settings(data_dir, "[runtime]\nstart_rate = 2.5\n").runtime.start_rate == 2.5

