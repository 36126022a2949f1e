"""Retention on SQLite and PostgreSQL: old history goes in batches; an event with an
undelivered delivery (or not yet fanned out) never does."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from unifyport.db.database import Database
from unifyport.db.types import utcnow
from unifyport.delivery.models import (
    ATTEMPTS,
    DELIVERIES,
    EVENTS,
    FAILED,
    PENDING,
    SUCCEEDED,
    TARGETS,
)
from unifyport.retention import prune, run_pruner
from unifyport.settings import RetentionSettings

NOW = utcnow()
OLD = NOW - timedelta(days=40)
KEEP = RetentionSettings(batch_size=2)  # 30d events, 7d delivered and attempts, 30d failed


async def _history(db: Database) -> dict[str, int]:
    """Events e1…e8 (seq by name), all 40 days old but e7 (1 day); their deliveries."""
    seqs: dict[str, int] = {}
    async with db.write() as s:
        for n in range(1, 9):
            created = NOW - timedelta(days=1) if n == 7 else OLD
            seqs[f"e{n}"] = (await s.execute(insert(EVENTS).values(
                id=f"evt_{n}", type="message.received", account_id="acc_1", data={},
                created_at=created).returning(EVENTS.c.seq))).scalar_one()
        cursor = seqs["e7"]
        await s.execute(insert(TARGETS), [
            {"sink": "webhook", "name": "a", "patterns": ["*"], "enabled": True,
             "cursor_seq": cursor, "created_at": OLD},
            {"sink": "webhook", "name": "b", "patterns": ["*"], "enabled": True,
             "cursor_seq": cursor, "created_at": OLD},
            # a disabled target far behind holds nothing back
            {"sink": "webhook", "name": "off", "patterns": ["*"], "enabled": False,
             "cursor_seq": 0, "created_at": OLD},
        ])

        async def delivery(event: str, target: str, status: str, leased: bool = False,
                           at: datetime = OLD, attempts: int = 2) -> None:
            did = (await s.execute(insert(DELIVERIES).values(
                sink="webhook", target=target, event_seq=seqs[event], event_id=f"evt_{event[1:]}",
                status=status, attempts=attempts,
                next_attempt_at=NOW if status == PENDING else None,
                leased_until=NOW + timedelta(seconds=30) if leased else None,
                lease_token="tok" if leased else None, created_at=at, updated_at=at,
            ).returning(DELIVERIES.c.id))).scalar_one()
            await s.execute(insert(ATTEMPTS), [
                {"delivery_id": did, "event_id": f"evt_{event[1:]}", "attempt": i + 1,
                 "succeeded": False, "status_code": 500, "duration_ms": 5, "at": at}
                for i in range(attempts)])

        await delivery("e1", "a", SUCCEEDED)            # delivered long ago: all goes
        await delivery("e2", "a", PENDING)              # retrying: kept
        await delivery("e3", "a", SUCCEEDED)
        await delivery("e3", "b", PENDING, leased=True)  # in flight: e3 kept
        await delivery("e4", "a", FAILED)               # failed long ago: all goes
        await delivery("e6", "a", SUCCEEDED, at=NOW - timedelta(days=3))  # redelivered lately
        await delivery("e7", "a", SUCCEEDED, at=NOW - timedelta(days=1))  # young event
        # e5: fanned out, no delivery (no target matched): goes. e8: past the cursors: kept.
    return seqs


async def _left(db: Database) -> tuple[set[int], list[tuple[int, str, str]], int]:
    async with db.read() as s:
        events = set(await s.scalars(select(EVENTS.c.seq)))
        deliveries = [(r.event_seq, r.target, r.status) for r in await s.execute(
            select(DELIVERIES.c.event_seq, DELIVERIES.c.target, DELIVERIES.c.status)
            .order_by(DELIVERIES.c.id))]
        attempts = len((await s.scalars(select(ATTEMPTS.c.id))).all())
    return events, deliveries, attempts


async def test_prune_keeps_undelivered_events(db: Database) -> None:
    seqs = await _history(db)
    before = await _left(db)
    dry = await prune(db, KEEP, now=NOW, dry_run=True)
    assert await _left(db) == before, "a dry run changes nothing"

    report = await prune(db, KEEP, now=NOW)
    events, deliveries, attempts = await _left(db)
    # The event's age decides: e6 goes with its recent delivery.
    assert events == {seqs[e] for e in ("e2", "e3", "e7", "e8")}
    # e3's succeeded delivery is older than 7 days: it goes, the pending one stays.
    assert deliveries == [(seqs["e2"], "a", PENDING), (seqs["e3"], "b", PENDING),
                          (seqs["e7"], "a", SUCCEEDED)]
    # Every attempt left is 40 days old (7d: gone, pending deliveries' too) but e7's.
    assert attempts == 2
    assert (report.events, report.deliveries, report.attempts) == (4, 4, 12)
    assert (dry.events, dry.deliveries, dry.attempts) == (4, 4, 12)
    assert (await prune(db, KEEP, now=NOW)).as_json() == {
        "events": 0, "deliveries": 0, "attempts": 0, "dry_run": False}

    # e2's delivery finally fails, e3's succeeds: after their retention they go too.
    async with db.write() as s:
        await s.execute(DELIVERIES.update().where(DELIVERIES.c.status == PENDING)
                        .values(status=FAILED, updated_at=NOW))
    later = await prune(db, KEEP, now=NOW + timedelta(days=31))
    events, deliveries, _ = await _left(db)
    assert seqs["e2"] not in events and seqs["e3"] not in events
    assert later.events == 3 and deliveries == []  # e2, e3, e7; e8 waits for fan-out


async def test_forever_keeps_everything(db: Database) -> None:
    await _history(db)
    before = await _left(db)
    keep = RetentionSettings(events=None, delivered=None, failed=None, attempts=None)
    report = await prune(db, keep, now=NOW + timedelta(days=3650))
    assert (report.events, report.deliveries, report.attempts) == (0, 0, 0)
    assert await _left(db) == before


async def test_background_pruner_runs_in_batches(db: Database) -> None:
    seqs = await _history(db)
    keep = replace(KEEP, interval=timedelta(seconds=0.05), batch_size=1)
    task = asyncio.create_task(run_pruner(db, keep, pause=0))
    try:
        for _ in range(200):
            if seqs["e6"] not in (await _left(db))[0]:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    events = (await _left(db))[0]
    assert events == {seqs[e] for e in ("e2", "e3", "e7", "e8")}


def test_cli_prune_dry_run_then_prune(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "unifyport.cli.main", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              check=False)

    assert cli("db", "upgrade").returncode == 0
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'unifyport.db'}")

    async def fill() -> None:
        await _history(db)
        await db.dispose()

    asyncio.run(fill())
    dry = cli("db", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"events": 4, "deliveries": 4, "attempts": 12,
                                      "dry_run": True}
    done = cli("db", "prune")
    assert json.loads(done.stdout) == {"events": 4, "deliveries": 4, "attempts": 12,
                                       "dry_run": False}
    assert json.loads(cli("db", "prune", "--dry-run").stdout)["events"] == 0


async def test_random_histories_never_lose_an_undelivered_event(db: Database) -> None:
    """300 events of random ages with random deliveries (pending, in flight, succeeded,
    failed) to three targets at random cursors, pruned at random times in small batches:
    afterwards every pending delivery's event and every event past a cursor is still there."""
    import random

    rng = random.Random(17)
    names = ("a", "b", "c")
    async with db.write() as s:
        seqs = [(await s.execute(insert(EVENTS).values(
            id=f"evt_r{n}", type="t", account_id=None, data={},
            created_at=NOW - timedelta(days=rng.uniform(0, 90))).returning(EVENTS.c.seq)
        )).scalar_one() for n in range(300)]
        await s.execute(insert(TARGETS), [
            {"sink": "webhook", "name": t, "patterns": ["*"], "enabled": rng.random() < 0.8,
             "cursor_seq": rng.choice(seqs), "created_at": OLD} for t in names])
        rows = []
        for seq in seqs:
            for t in rng.sample(names, rng.randint(0, 3)):
                status = rng.choice([PENDING, SUCCEEDED, FAILED, SUCCEEDED])
                at = NOW - timedelta(days=rng.uniform(0, 60))
                rows.append({"sink": "webhook", "target": t, "event_seq": seq,
                             "event_id": "e", "status": status, "attempts": 1,
                             "lease_token": "x" if status == PENDING and rng.random() < 0.3
                             else None, "created_at": at, "updated_at": at})
        await s.execute(insert(DELIVERIES), rows)
    async with db.read() as s:
        pending = set(await s.scalars(select(DELIVERIES.c.event_seq)
                                      .where(DELIVERIES.c.status == PENDING)))
        low = await s.scalar(select(func.min(TARGETS.c.cursor_seq))
                             .where(TARGETS.c.enabled.is_(True)))
    keep = RetentionSettings(batch_size=7)
    removed = 0
    for days in (0, 20, 40, 80):
        removed += (await prune(db, keep, now=NOW + timedelta(days=days))).events
    events = (await _left(db))[0]
    assert pending <= events, "an event with a pending delivery was removed"
    assert {q for q in seqs if low is not None and q > low} <= events
    assert removed == len(seqs) - len(events) > 0
