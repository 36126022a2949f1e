"""The database handle: engines, sessions for reads and for serialised writes, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, Engine, Select, create_engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from unifyport.db.direct import Compiled, HeldConnections, compile_read
from unifyport.private_files import ensure_private

T = TypeVar("T")
SQLITE_SIDE_FILES = ("", "-wal", "-shm")
"""The database file and the files SQLite keeps next to it in WAL mode."""
POOL_SIZE = 10
SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite statement waits for a lock another process (or connection) holds; past
it the request answers 503 ``not_ready`` with ``Retry-After``."""
"""Lasting connections of a PostgreSQL pool (10 more may be opened for bursts, then closed)."""
HELD_CONNECTIONS = POOL_SIZE // 2
"""Of those, how many the hot reads (``rows``) may keep checked out between reads."""


class Database:
    """Sessions over one engine. ``write()`` takes SQLite's write lock up front
    (``BEGIN IMMEDIATE``) so read-then-write transactions never fail half-way.

    ``run()`` executes a synchronous function in one transaction, for hot paths that issue
    several statements (the delivery queue). On a SQLite file it runs on a plain synchronous
    connection: right here when the write lock is free (no hand-off at all; the event loop
    waits the few milliseconds the transaction takes), else whole in one database thread
    that waits for the lock (one hand-off instead of several per statement through the async
    driver, and no waiting on the event loop)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS,
                                      "factory": _RollbackOnClose}
        else:
            kwargs.update(pool_size=POOL_SIZE, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_pragmas(self.engine)
            writer = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        else:
            _ping_when_idle(self.engine)
            writer = self.engine
        self._single = self.engine.execution_options(
            **({"sqlite_begin": ""} if self.is_sqlite else {"isolation_level": "AUTOCOMMIT"}))
        self._query_slots = asyncio.Semaphore(POOL_SIZE)
        self._held = HeldConnections(self.engine, HELD_CONNECTIONS)
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)
        self._writer = writer
        self._sync: _SyncEngines | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._compiled: dict[Select[Any], Compiled | None] = {}
        self._direct: sqlite3.Connection | None = None
        self._turn: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._turn_holder: asyncio.Task[Any] | None = None
        if self.is_sqlite and self.engine.url.database not in (None, "", ":memory:"):
            # SQLite gives the WAL and shared-memory files the database file's mode: 0600.
            for suffix in SQLITE_SIDE_FILES:
                side = Path(self.engine.url.database + suffix)
                if not suffix or side.exists():
                    ensure_private(side)
            self._sync = _SyncEngines(self.engine.url.set(drivername="sqlite"))
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="unifyport-db")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; rolled back at exit (to the end, see :meth:`write`)."""
        session = self._read()
        try:
            yield session
        finally:
            await to_the_end(session.close())

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction committed at exit (rolled back on an exception).

        On SQLite the write transactions of this process take turns here, in the order
        they asked, before taking a connection: thousands of writers wait in memory (no
        pooled connection, no thread, no busy timeout), and the file's lock is contended
        only by other processes. PostgreSQL runs them concurrently.

        The commit, or the rollback and the connection's return to the pool, run to their
        end even when the caller is cancelled meanwhile, repeatedly or not (the runtime
        re-cancels a client every 100 ms while it stops): cut off half-way, SQLAlchemy drops
        the connection, and a SQLite connection closed with a statement still alive stays
        open as a "zombie" holding the write lock: every later writer then waited out the
        busy timeout (hence also :class:`_RollbackOnClose`)."""
        async with self._write_turn():
            session = self._write()
            try:
                yield session
                await to_the_end(session.commit())
            finally:
                await to_the_end(session.close())

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        if not self.is_sqlite:
            yield
            return
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        if self._turn is None or self._turn[0] is not loop:  # one lock per event loop
            self._turn = (loop, asyncio.Lock())
        if task is not None and task is self._turn_holder:
            raise RuntimeError("a write transaction inside another one on SQLite")
        async with self._turn[1]:
            self._turn_holder = task
            try:
                yield
            finally:
                self._turn_holder = None

    async def run(self, fn: Callable[[Connection], T], *, write: bool = True) -> T:
        """``fn(connection)`` in one transaction: committed if ``write`` (taking SQLite's
        write lock up front), else rolled back. The transaction finishes even if the caller
        is cancelled while it runs in the database thread."""
        if self._sync is not None and self._thread is not None:
            if not write:
                return await self._run_sqlite(fn, write, single=False)
            async with self._write_turn():
                return await self._run_sqlite(fn, write, single=False)
        if write:
            async with self._writer.begin() as conn:
                return await conn.run_sync(fn)
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn)

    async def query(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` for a read of one statement (its own snapshot), run as
        ``run(fn, write=False)`` but outside an explicit transaction: on SQLite no ``BEGIN``
        and rollback around it, on PostgreSQL no round trips to open and close one
        (autocommit). For the API's hot reads (``unifyport.db.reads``, the key cache).

        At most :data:`POOL_SIZE` run at once: beyond the pool's lasting connections, each
        read would open an overflow connection and close it after (a connection set-up per
        read under load: half the CPU time of a PostgreSQL read at 20 concurrent requests)."""
        if self._sync is not None and self._thread is not None:
            return await self._run_sqlite(fn, False, single=True)
        async with self._query_slots, self._single.connect() as conn:
            return await conn.run_sync(fn)

    async def rows(self, statement: Select[Any], params: Mapping[str, Any]
                   ) -> list[tuple[Any, ...]]:
        """Every row of one read statement, as tuples of the values SQLAlchemy would return,
        in its own snapshot like :meth:`query`, but run by the driver itself
        (``unifyport.db.direct``): on a SQLite file a ``sqlite3`` connection kept for this on
        the event loop (in the database thread when the file is busy), on PostgreSQL
        ``asyncpg`` on a connection of the engine's pool. For the API's hot reads; pass
        statements built once (the compiled form is kept per statement object)."""
        try:
            compiled = self._compiled[statement]
        except KeyError:
            compiled = self._compiled[statement] = compile_read(statement, self.engine.dialect)
        if compiled is None or (self.is_sqlite and self._sync is None):
            return [tuple(r) for r in await self.query(
                lambda conn: conn.execute(statement, params).all())]
        args = compiled.params(params)
        if self._sync is not None:
            return compiled.rows(await self._sqlite_rows(compiled.sql, args))
        return compiled.rows(await self._held.fetch(compiled.sql, args, IDLE_PING))

    async def _sqlite_rows(self, sql: str, args: list[Any]) -> list[Any]:
        assert self._sync is not None and self._thread is not None
        try:
            if self._direct is None:
                self._direct = _direct_sqlite(self._sync.path)
            return self._direct.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (5, 6):  # not SQLITE_BUSY / SQLITE_LOCKED
                raise

        def waiting(conn: Connection) -> list[Any]:
            return list(conn.exec_driver_sql(sql, tuple(args)).all())

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, _run_sync, self._sync.waiting(False, True), waiting, False)

    async def _run_sqlite(self, fn: Callable[[Connection], T], write: bool, *, single: bool
                          ) -> T:
        assert self._sync is not None and self._thread is not None
        try:
            return _run_sync(self._sync.now(write, single), fn, write)
        except OperationalError as exc:
            if not _busy(exc):
                raise
        # Locked by another transaction (maybe one this event loop must finish): wait in
        # the database thread. Nothing was committed by the attempt above.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, _run_sync, self._sync.waiting(write, single), fn, write)

    async def dispose(self) -> None:
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.close()
        await self._held.close()
        await self.engine.dispose()
        thread, self._thread = self._thread, None
        if thread is not None and self._sync is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._sync.dispose)
            thread.shutdown()


class _SyncEngines:
    """Synchronous engines on the SQLite file: ``now`` ones fail at once when the write
    lock is taken; ``waiting`` ones wait for it (30 s), for the database thread. Each has
    variants for writes (``BEGIN IMMEDIATE``) and for single-statement reads (no ``BEGIN``)."""

    def __init__(self, url: URL) -> None:
        assert url.database is not None
        self.path = url.database
        self._engines: dict[tuple[bool, bool, bool], Engine] = {}
        for waits in (False, True):
            timeout = SQLITE_BUSY_SECONDS if waits else 0
            engine = create_engine(url, connect_args={"timeout": timeout,
                                                      "check_same_thread": False})
            _sqlite_pragmas(engine, busy=waits)
            self._engines[waits, False, False] = engine
            self._engines[waits, True, False] = engine.execution_options(
                sqlite_begin="BEGIN IMMEDIATE")
            self._engines[waits, False, True] = engine.execution_options(sqlite_begin="")

    def now(self, write: bool, single: bool = False) -> Engine:
        return self._engines[False, write, single]

    def waiting(self, write: bool, single: bool = False) -> Engine:
        return self._engines[True, write, single]

    def dispose(self) -> None:
        for (_waits, write, single), engine in self._engines.items():
            if not write and not single:
                engine.dispose()


class _RollbackOnClose(sqlite3.Connection):
    """A SQLite connection that ends its transaction when closed. SQLAlchemy drops a
    connection whose statement a cancellation interrupted; closed while that statement is
    still referenced (by a cursor in a traceback, until the garbage collector gets to it),
    a plain connection stays open as a "zombie" with its transaction, holding the write
    lock: every later writer then waited out the busy timeout (a gateway's shutdown after
    its clients were cancelled mid-write)."""

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # ProgrammingError: closed already
            if self.in_transaction:
                self.rollback()
        super().close()


def _direct_sqlite(path: str) -> sqlite3.Connection:
    """A connection for single-statement reads on the event loop: autocommit (each statement
    its own snapshot) and failing at once when the file is busy."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=0")
    return conn


async def to_the_end(step: Awaitable[T]) -> T:
    """Await ``step`` to its end even if the caller is cancelled meanwhile (any number of
    times); the cancellation is raised after it, and ``step``'s own result or error is
    what the caller gets otherwise."""
    task = asyncio.ensure_future(step)
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        if not task.cancelled():
            task.exception()  # retrieved: the caller sees its cancellation instead
        raise asyncio.CancelledError
    return task.result()


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "the file stayed locked past the busy timeout"."""
    return isinstance(exc, OperationalError) and _busy(exc)


def _busy(exc: OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED (the write lock is held elsewhere)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code in (5, 6) or "database is locked" in str(exc.orig)


def _run_sync(engine: Engine, fn: Callable[[Connection], T], write: bool) -> T:
    if write:
        with engine.begin() as conn:
            return fn(conn)
    with engine.connect() as conn:
        return fn(conn)


IDLE_PING = 5.0
"""Seconds a pooled server connection may sit unused before it is tested on checkout."""


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Test a pooled connection before use when it has been idle (the server may have
    restarted or dropped it), replacing it if dead. Pinging on every checkout, like
    ``pool_pre_ping``, costs a round trip per transaction: a sixth of a sink refill."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING:
            return
        try:
            alive = dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("pooled connection is dead") from exc
        if not alive:
            raise DisconnectionError("pooled connection is dead")


def _sqlite_pragmas(engine: AsyncEngine | Engine, busy: bool = True) -> None:
    busy_timeout_ms = int(SQLITE_BUSY_SECONDS * 1000) if busy else 0
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cur.close()

    @event.listens_for(sync, "begin")
    def _begin(conn: Any) -> None:
        begin = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        if begin:  # "": a single statement, in autocommit mode (Database.query)
            conn.exec_driver_sql(begin)
