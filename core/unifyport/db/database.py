"""The database handle: engines, sessions for reads and for serialised writes, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")


class Database:
    """Sessions over one engine. ``write()`` takes SQLite's write lock up front
    (``BEGIN IMMEDIATE``) so read-then-write transactions never fail half-way.

    ``run()`` executes a synchronous function in one transaction, for hot paths that issue
    several statements: on a SQLite file it runs whole in one database thread (one hand-off
    per transaction instead of several per statement through the async driver)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_pragmas(self.engine)
            writer = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        else:
            writer = self.engine
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)
        self._writer = writer
        self._sync: Engine | None = None
        self._sync_writer: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if self.is_sqlite and self.engine.url.database not in (None, "", ":memory:"):
            self._sync = create_engine(
                self.engine.url.set(drivername="sqlite"),
                connect_args={"timeout": 30, "check_same_thread": False})
            _sqlite_pragmas(self._sync)
            self._sync_writer = self._sync.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="unifyport-db")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; rolled back at exit."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction committed at exit (rolled back on an exception)."""
        async with self._write() as session, session.begin():
            yield session

    async def run(self, fn: Callable[[Connection], T], *, write: bool = True) -> T:
        """``fn(connection)`` in one transaction: committed if ``write`` (taking SQLite's
        write lock up front), else rolled back. The transaction finishes even if the caller
        is cancelled while it runs in the database thread."""
        if self._sync is not None and self._sync_writer is not None and self._thread:
            engine = self._sync_writer if write else self._sync
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, _run_sync, engine, fn, write)
        if write:
            async with self._writer.begin() as conn:
                return await conn.run_sync(fn)
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn)

    async def dispose(self) -> None:
        await self.engine.dispose()
        thread, self._thread = self._thread, None
        if thread is not None and self._sync is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._sync.dispose)
            thread.shutdown()


def _run_sync(engine: Engine, fn: Callable[[Connection], T], write: bool) -> T:
    if write:
        with engine.begin() as conn:
            return fn(conn)
    with engine.connect() as conn:
        return fn(conn)


def _sqlite_pragmas(engine: AsyncEngine | Engine) -> None:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
