"""Benchmark of retention pruning and of a ``/metrics`` scrape (for the record, not a timed
test).

Fills a SQLite file (or ``--database-url``) with ``--events`` old events, each with one
delivery per target (``--targets``; 10% still pending) and two attempts; prints the time of
one ``/metrics`` database read, of ``db prune --dry-run``, and the rows removed per second by
one pruning pass in batches of 500, and how many events the pending deliveries kept.

    PYTHONPATH=.:plugins:core .venv/bin/python bench/operations.py [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select

from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.db.types import utcnow
from unifyport.delivery.models import ATTEMPTS, DELIVERIES, EVENTS, PENDING, SUCCEEDED, TARGETS
from unifyport.metrics import _database_gauges
from unifyport.retention import prune
from unifyport.settings import RetentionSettings


async def fill(db: Database, events: int, targets: int) -> None:
    old = utcnow() - timedelta(days=60)
    names = [f"t{i}" for i in range(targets)]
    async with db.write() as s:
        await s.execute(insert(EVENTS), [
            {"id": f"evt_{n}", "type": "message.received", "account_id": "acc_1",
             "data": {"n": n, "text": "x" * 200}, "created_at": old} for n in range(events)])
        await s.execute(insert(TARGETS), [
            {"sink": "webhook", "name": t, "patterns": ["*"], "enabled": True,
             "cursor_seq": events, "created_at": old} for t in names])
        await s.execute(insert(DELIVERIES), [
            {"sink": "webhook", "target": t, "event_seq": n + 1, "event_id": f"evt_{n}",
             "status": PENDING if n % 10 == 0 else SUCCEEDED, "attempts": 2,
             "created_at": old, "updated_at": old} for n in range(events) for t in names])
        ids = list(await s.scalars(select(DELIVERIES.c.id)))
        await s.execute(insert(ATTEMPTS), [
            {"delivery_id": d, "event_id": "evt", "attempt": a, "succeeded": False,
             "status_code": 500, "duration_ms": 3, "at": old} for d in ids for a in (1, 2)])


async def main(url: str | None, events: int, targets: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(db)
        await fill(db, events, targets)
        rows = events * targets
        gw: Any = SimpleNamespace(db=db, runtime=None)
        t = time.perf_counter()
        await _database_gauges(gw)
        print(f"{events:,} events, {rows:,} deliveries, {2 * rows:,} attempts "
              f"({db.dialect})")
        print(f"/metrics database read: {(time.perf_counter() - t) * 1000:.0f} ms")
        keep = RetentionSettings()
        t = time.perf_counter()
        dry = await prune(db, keep, dry_run=True)
        print(f"prune --dry-run: {(time.perf_counter() - t) * 1000:.0f} ms -> {dry.as_json()}")
        t = time.perf_counter()
        report = await prune(db, keep)
        took = time.perf_counter() - t
        removed = report.events + report.deliveries + report.attempts
        print(f"prune: {removed:,} rows in {took:.2f} s = {removed / took:,.0f} rows/s "
              f"(batches of {keep.batch_size})")
        async with db.read() as s:
            left = await s.scalar(select(func.count()).select_from(EVENTS))
        print(f"events kept (a pending delivery): {left:,} of {events:,}")
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--targets", type=int, default=2)
    parser.add_argument("--database-url")
    a = parser.parse_args()
    asyncio.run(main(a.database_url, a.events, a.targets))
