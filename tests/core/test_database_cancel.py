"""Writes cancelled at any point, any number of times (the runtime re-cancels a stopping
client every 100 ms), leave no transaction behind: seen as a gateway whose shutdown waited
out SQLite's busy timeout because a connection SQLAlchemy dropped mid-statement stayed open
(a "zombie": closed while a statement was still referenced) holding the write lock."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from unifyport.db.database import Database, to_the_end

FREED_WITHIN = 5.0
"""Seconds a dropped connection may take to close in its driver thread."""


def _lock_is_free(path: Path) -> bool:
    probe = sqlite3.connect(path, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")  # fails at once if anyone holds the lock
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


async def test_a_write_cancelled_again_and_again_leaves_the_file_unlocked(
        tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    gc.disable()  # the statements of dropped connections wait for the collector: none comes
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))

        async def writer() -> None:
            async with db.write() as s:
                for n in range(50):
                    await s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

        for i in range(40):
            task = asyncio.ensure_future(writer())
            for _ in range(i % 8):  # let it get to a different point each round
                await asyncio.sleep(0)
            while not task.done():  # cancel at every step of its way out
                task.cancel()
                await asyncio.sleep(0)
            deadline = time.monotonic() + FREED_WITHIN
            while not _lock_is_free(path):
                assert time.monotonic() < deadline, f"round {i}: the write lock stays held"
                await asyncio.sleep(0.02)
        async with db.write() as s:  # and the pool still works
            await s.execute(text("INSERT INTO t VALUES (-1)"))
    finally:
        gc.enable()
        await db.dispose()


async def test_to_the_end_finishes_the_step_then_raises_the_cancellation() -> None:
    finished = asyncio.Event()

    async def step() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "done"

    async def caller() -> str:
        return await to_the_end(step())

    task = asyncio.ensure_future(caller())
    await asyncio.sleep(0)
    for _ in range(5):
        task.cancel()
        await asyncio.sleep(0.001)
    await asyncio.wait([task])
    assert task.cancelled() and finished.is_set()
    assert await to_the_end(step()) == "done"


def _zombie(path: Path, factory: type[sqlite3.Connection]) -> tuple[sqlite3.Cursor, bool]:
    """Close a connection mid-transaction while one of its statements is still referenced
    (as SQLAlchemy does to a connection a cancellation interrupted); is the lock free?"""
    conn = sqlite3.connect(path, isolation_level=None, factory=factory)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1), (2), (3)")
    alive = conn.execute("SELECT x FROM t")  # stepped once of three: still running
    alive.fetchone()
    conn.close()
    return alive, _lock_is_free(path)


def test_a_connection_closed_mid_transaction_keeps_no_lock(tmp_path: Path) -> None:
    from unifyport.db.database import _RollbackOnClose

    path = tmp_path / "z.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.close()
    _plain, free = _zombie(path, sqlite3.Connection)
    assert not free  # SQLite's "zombie": the lock stays while the statement lives
    del _plain
    assert _lock_is_free(path)
    _ours, free = _zombie(path, _RollbackOnClose)
    assert free


async def test_the_gateways_sqlite_connections_roll_back_when_closed(tmp_path: Path) -> None:
    from unifyport.db.database import _RollbackOnClose

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection._conn, _RollbackOnClose)  # type: ignore[union-attr]
    finally:
        await db.dispose()
