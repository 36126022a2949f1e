"""Thousands of concurrent writers in one process: on SQLite they take turns in memory (no
pooled connection held while waiting, never SQLite's busy timeout); a group commit runs many
small writes in one transaction, and a failing one fails alone (both backends)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts.service import emit
from unifyport.db import database
from unifyport.db.database import Database
from unifyport.db.group import GroupCommit
from unifyport.db.models import Event
from unifyport.delivery import notify

WRITERS = 1500


async def test_thousands_of_sqlite_writers_never_meet_the_busy_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A short busy timeout: writers contending for the file (the pool's 15 connections)
    # would meet it within the run; taking turns, none waits for the file at all.
    monkeypatch.setattr(database, "SQLITE_BUSY_SECONDS", 0.2)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}")
    held: list[int] = []

    async def write(i: int) -> None:
        async with db.write() as s:  # read, yield to the loop, write: a client's status
            n = (await s.execute(text("SELECT count(*) FROM t"))).scalar_one()
            held.append(db.engine.pool.checkedout())  # type: ignore[attr-defined]
            await asyncio.sleep(0)
            await s.execute(text("INSERT INTO t VALUES (:i, :n)"), {"i": i, "n": n})

    def run_write(i: int) -> Callable[[Connection], None]:  # the delivery queue's kind
        def fn(c: Connection) -> None:
            c.execute(text("INSERT INTO t VALUES (:i, -1)"), {"i": i})
        return fn

    try:
        await db.run(lambda c: c.execute(text("CREATE TABLE t (i INTEGER, seen INTEGER)")))
        with anyio.fail_after(120):
            await asyncio.gather(*(write(i) if i % 5 else db.run(run_write(i))
                                   for i in range(WRITERS)))
        rows = await db.run(lambda c: c.execute(text("SELECT count(*) FROM t")).scalar_one(),
                            write=False)
        assert rows == WRITERS
        assert max(held) == 1  # the writers waiting for their turn held no connection
    finally:
        await db.dispose()


async def test_a_write_inside_a_write_fails_at_once_on_sqlite(tmp_path: Path) -> None:
    """It could only wait for itself: an error now, not a stall until the busy timeout."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested.db'}")
    try:
        with anyio.fail_after(5):
            async with db.write():
                with pytest.raises(RuntimeError, match="inside another"):
                    async with db.write():
                        pass
            async with db.write() as s:  # and the turn was given back
                await s.execute(text("SELECT 1"))
    finally:
        await db.dispose()


async def test_group_commit_batches_and_isolates_a_failure(database_url: str) -> None:
    db = Database(database_url)
    group = GroupCommit(db, max_batch=100)

    def insert(i: int) -> Callable[[AsyncSession], Awaitable[int]]:
        async def fn(s: AsyncSession) -> int:
            if i == 77:
                raise ValueError("this one fails")
            await s.execute(text("INSERT INTO g VALUES (:i)"), {"i": i})
            return i * 2
        return fn

    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE g (i INTEGER PRIMARY KEY)"))
        with anyio.fail_after(60):
            results = await asyncio.gather(*(group.run(insert(i)) for i in range(400)),
                                           return_exceptions=True)
        assert isinstance(results[77], ValueError)
        assert [r for i, r in enumerate(results) if i != 77] == [
            i * 2 for i in range(400) if i != 77]
        async with db.write() as s:
            stored = (await s.execute(text("SELECT i FROM g ORDER BY i"))).scalars().all()
        assert stored == [i for i in range(400) if i != 77]
        # 400 writes queued at once: a handful of batches, then the failing batch alone
        assert group.transactions <= 1 + 4 + 100
        async with db.write() as s:
            await s.execute(text("DROP TABLE g"))
    finally:
        await db.dispose()


async def test_group_commit_stores_its_events_in_order_with_one_notice(db: Database) -> None:
    """Events emitted by a batch's writes are inserted together as rows at its end: in the
    order they were emitted, with a local sink's notice per commit, and none of a write that
    failed (the batch is rolled back and run again one write per transaction)."""
    group = GroupCommit(db, max_batch=50)
    notices: list[int] = []
    stop = notify.subscribe(lambda: notices.append(group.transactions))

    def write(i: int) -> Callable[[AsyncSession], Awaitable[None]]:
        async def fn(s: AsyncSession) -> None:
            emit(s, "kit.first", f"acc_{i}", {"i": i})
            emit(s, "kit.second", f"acc_{i}", {"i": i})
            if i == 33:
                raise ValueError("this one fails")
        return fn

    try:
        with anyio.fail_after(60):
            results = await asyncio.gather(*(group.run(write(i)) for i in range(100)),
                                           return_exceptions=True)
        assert isinstance(results[33], ValueError)
        async with db.read() as s:
            rows = (await s.execute(select(Event.type, Event.account_id, Event.data)
                                    .order_by(Event.seq))).all()
        assert [(r.type, r.account_id, r.data) for r in rows] == [
            (t, f"acc_{i}", {"account_id": f"acc_{i}", "i": i})
            for i in range(100) if i != 33 for t in ("kit.first", "kit.second")]
        # a notice per commit that stored events, none for the failing write's rollback
        assert 2 <= len(notices) <= group.transactions - 1
    finally:
        stop()
