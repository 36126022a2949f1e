"""Database.run on a real SQLite file: inline when the write lock is free, in the database
thread when this event loop's own transaction holds it (no deadlock, nothing done twice)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from unifyport.db.database import Database


async def test_run_waits_in_the_thread_for_a_lock_held_on_this_event_loop(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'run.db'}")
    other = Database(db.url)  # another handle on the file (a second gateway, say)
    threads: list[str] = []

    def insert(value: int) -> Callable[[Connection], int]:
        def fn(c: Connection) -> int:
            threads.append(threading.current_thread().name)
            return c.execute(text("INSERT INTO t VALUES (:v)"), {"v": value}).rowcount

        return fn

    try:
        await db.run(lambda c: c.execute(text("CREATE TABLE t (a INTEGER)")))
        assert await db.run(insert(1)) == 1  # lock free: runs right here
        async with other.write() as s:
            await s.execute(text("INSERT INTO t VALUES (2)"))  # this loop holds the lock now
            waiting = asyncio.create_task(db.run(insert(3)))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # it waits for the lock without blocking the loop
        assert await asyncio.wait_for(waiting, 10) == 1
        rows = await db.run(
            lambda c: list(c.execute(text("SELECT a FROM t ORDER BY a")).scalars()), write=False)
        assert rows == [1, 2, 3]
        main = threading.main_thread().name
        assert threads[0] == main  # the first insert ran inline
        assert threads[-1].startswith("unifyport-db")  # the last one waited in the thread
        async with db.write() as s:  # the same handle's writes take turns in memory instead
            await s.execute(text("INSERT INTO t VALUES (4)"))
            waiting = asyncio.create_task(db.run(insert(5)))
            await asyncio.sleep(0.2)
            assert not waiting.done()
        assert await asyncio.wait_for(waiting, 10) == 1
        assert threads[-1] == main  # its turn came with the lock free: inline
    finally:
        await db.dispose()
        await other.dispose()


async def test_a_failing_function_rolls_back(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'rollback.db'}")

    def fails(c: Connection) -> None:
        c.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")

    try:
        await db.run(lambda c: c.execute(text("CREATE TABLE t (a INTEGER)")))
        with pytest.raises(RuntimeError):
            await db.run(fails)
        count = await db.run(lambda c: c.execute(text("SELECT count(*) FROM t")).scalar(),
                             write=False)
        assert count == 0
    finally:
        await db.dispose()
