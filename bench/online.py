"""Helpers the channel benchmarks share: the process's RSS, waiting for runtimes to run,
collecting stored inbound messages and printing their latency."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.support.gateway import Api
from unifyport.db.models import Event

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


async def bring_online(api: Api, accounts: list[str], label: str) -> None:
    """Start ``accounts``' runtimes, wait until all run, and print how fast they came online
    and the RSS each idle online account adds (measured from before the starts)."""
    rss_before = rss_mb()
    t0 = time.perf_counter()
    for acc in accounts:
        status, body = await api.post(f"/v1/accounts/{acc}/runtime/start")
        assert status == 200, body
    await wait_running(api, accounts)
    elapsed = time.perf_counter() - t0
    print(f"[{label}] accounts online: {len(accounts) / elapsed:.1f}/s "
          f"({len(accounts)} in {elapsed:.1f} s)")
    await asyncio.sleep(3)
    gc.collect()
    rss_after = rss_mb()
    print(f"[{label}] RSS {rss_before:.0f} MB -> {rss_after:.0f} MB with {len(accounts)} "
          f"idle online accounts: {(rss_after - rss_before) * 1024 / len(accounts):.0f} KB "
          f"per account")


async def stored_received(api: Api, expected: int, within: float = 120.0) -> list[Any]:
    """The stored ``message.received`` rows (``data``, ``created_at``), once ``expected`` of
    them are there or ``within`` seconds have passed."""
    rows: list[Any] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with api.gateway.db.read() as s:
            rows = list((await s.execute(select(Event.data, Event.created_at).where(
                Event.type == "message.received"))).all())
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.5)
    return rows


def report_latency(label: str, latencies: list[float], sent: int, rate: float,
                   accounts: int) -> None:
    """Print p50/p99 of inbound message -> stored event latencies (seconds)."""
    if not latencies:
        print(f"[{label}] no message.received events stored")
        return
    lat = sorted(latencies)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"[{label}] inbound -> event stored at {rate:.0f} msg/s over {accounts} "
          f"accounts: {len(lat)}/{sent} stored, p50 {statistics.median(lat) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms")
