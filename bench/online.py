"""Helpers the channel benchmarks share: the process's RSS, waiting for runtimes to run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.gateway import Api

DEADLINE = 600.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def wait_running(api: Api, accounts: list[str]) -> None:
    """Until every account's runtime reports ``running`` (bounded by ``DEADLINE``)."""
    pending, deadline = set(accounts), time.monotonic() + DEADLINE
    while pending and time.monotonic() < deadline:
        for acc in list(pending):
            if (await api.get(f"/v1/accounts/{acc}/runtime"))[1]["status"] == "running":
                pending.discard(acc)
        if pending:
            await asyncio.sleep(0.05)
    if pending:
        raise RuntimeError(f"{len(pending)} accounts never came online")
