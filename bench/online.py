"""Helpers the channel benchmarks share: the process's RSS, waiting for runtimes to run,
collecting stored inbound messages, dating them by their commit and printing their latency."""

from __future__ import annotations

import asyncio
import bisect
import gc
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.support.gateway import Api
from unifyport.db.models import Event
from unifyport.delivery import notify

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


async def last_event(api: Api) -> int:
    """The ``seq`` of the newest stored event (0 when none)."""
    async with api.gateway.db.read() as s:
        return int((await s.execute(select(func.max(Event.seq)))).scalar_one() or 0)


async def until_stored(api: Api, expected: int, within: float = 120.0, after: int = 0) -> None:
    """Until ``expected`` ``message.received`` events after event ``after`` are stored, or
    ``within`` seconds have passed (counted, not read: reading them all every time would
    load the event loop the gateway is working on)."""
    new = (Event.type == "message.received", Event.seq > after)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with api.gateway.db.read() as s:
            if int((await s.execute(select(func.count()).where(*new))).scalar_one()) >= expected:
                return
        await asyncio.sleep(0.5)


async def stored_received(api: Api, expected: int, within: float = 120.0,
                          after: int = 0) -> list[Any]:
    """The stored ``message.received`` rows (``data``, ``created_at``) after event ``after``,
    once ``expected`` of them are there or ``within`` seconds have passed (read once)."""
    await until_stored(api, expected, within, after)
    new = (Event.type == "message.received", Event.seq > after)
    async with api.gateway.db.read() as s:
        return list((await s.execute(select(Event.data, Event.created_at).where(*new))).all())


class CommitClock:
    """When this process committed events: an event's ``created_at`` is taken when it joins
    its transaction, which commits later (a batch of clients' writes after the others), so
    the latency to *stored* counts to the first commit of events after it. Exact while the
    process's event writes do not overlap (SQLite, or the runtime's one writer)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._stop = notify.subscribe(lambda: self.times.append(time.time()))

    def stored_at(self, created_at: datetime) -> float:
        created = created_at.timestamp()
        i = bisect.bisect_left(self.times, created)
        return self.times[i] if i < len(self.times) else created

    def close(self) -> None:
        self._stop()


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
