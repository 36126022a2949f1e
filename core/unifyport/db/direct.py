"""Read statements run on the driver's own connection, past SQLAlchemy's execution machinery.

A Core ``select`` is compiled once per dialect (:class:`Compiled`): its SQL text, the order
of its parameters with their bind processors, and a result processor per column taken from
the column types (so values come out exactly as SQLAlchemy would return them: aware UTC
datetimes, decoded JSON, ``RawJSON`` fragments). Running it is then one driver call and a
loop over the rows: on SQLite a plain ``sqlite3`` cursor on the event loop, on PostgreSQL
``asyncpg``'s ``fetch`` on one of a few connections of the engine's pool kept checked out
for these reads (:class:`HeldConnections`; asyncpg keeps the prepared statement). About a
fifth of SQLAlchemy's CPU per statement on SQLite and under a third on PostgreSQL (figures
in docs/architecture.md, "API hot path").

Statements with an expanding ``IN`` parameter (``column.in_(bindparam(..., expanding=True))``)
are rendered per call by SQLAlchemy; :func:`compile_read` returns ``None`` for them and
:meth:`~unifyport.db.database.Database.rows` runs them through SQLAlchemy instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Dialect, Select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import greenlet_spawn

from unifyport.db.types import RawJSON


class Compiled:
    """One read statement compiled for one dialect."""

    def __init__(self, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.sql = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        bind_processors: Mapping[str, Any] = compiled._bind_processors
        self._binds = tuple(bind_processors.get(name) for name in self.names)
        self._defaults = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                          if not bind.required}
        """Values of the binds the statement carries itself (literals: ``limit(…)``'s offset)."""
        results = (_result_processor(column[3], dialect) for column in compiled._result_columns)
        self._results: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (i, proc) for i, proc in enumerate(results) if proc is not None)
        """(column index, processor) of the columns that have one."""

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for ``values`` (defaults of literal binds filled in)."""
        given = {**self._defaults, **values}  # SQLAlchemy's construct_params: 10x the time
        return [given[name] if proc is None else proc(given[name])
                for name, proc in zip(self.names, self._binds, strict=True)]

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The driver's rows with each column's result processor applied."""
        if not self._results:
            return [tuple(r) for r in raw]
        out = []
        for r in raw:
            row = list(r)
            for i, proc in self._results:
                if (value := row[i]) is not None:
                    row[i] = proc(value)
            out.append(tuple(row))
        return out


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column's result processor; for :class:`RawJSON` the fragment type itself (a C
    call instead of two Python calls through ``TypeDecorator``: rows never hand it ``None``,
    :meth:`Compiled.rows` skips those)."""
    if isinstance(type_, RawJSON):
        return orjson.Fragment
    processor: Callable[[Any], Any] | None = type_._cached_result_processor(dialect, None)
    return processor


def compile_read(statement: Select[Any], dialect: Dialect) -> Compiled | None:
    """``statement`` compiled for ``dialect``, or ``None`` when it has an expanding
    parameter (SQLAlchemy renders those per call)."""
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if any(bind.expanding for bind in compiled.binds.values()):
        return None
    return Compiled(compiled, dialect)


class HeldConnections:
    """Connections of an engine's pool kept checked out between hot reads (up to ``size``,
    each read on one of its own): a read skips the pool's checkout and return (two hand-offs
    to SQLAlchemy's greenlet and the pool's bookkeeping: a third of a read's CPU). A held
    connection idle for ``idle_ping`` seconds or more is pinged before use, as the pool pings
    its own. A lost connection is dropped from the pool and the read fails (:func:`_fetch`)."""

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[Any, float]] = []
        """(pool connection, when its last read ended), the most recent last."""
        self._closed = False

    async def fetch(self, sql: str, args: Sequence[Any], idle_ping: float) -> list[Any]:
        async with self._slots:
            raw = await self._take(idle_ping)
            found = await _fetch(raw, sql, args)
            if self._closed:
                await greenlet_spawn(raw.close)
            else:
                self._idle.append((raw, time.monotonic()))
            return found

    async def _take(self, idle_ping: float) -> Any:
        while self._idle:
            raw, since = self._idle.pop()
            if time.monotonic() - since < idle_ping:
                return raw
            try:
                await raw.driver_connection.fetchrow(";")
                return raw
            except Exception as exc:  # dead: the next one, or a new one from the pool
                await greenlet_spawn(raw.invalidate, exc)
            except BaseException:  # cancelled half-way: its state is unknown
                await greenlet_spawn(raw.invalidate)
                raise
        return await self._engine.raw_connection()

    async def close(self) -> None:
        """Return the held connections to the pool (reads still running return theirs)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for raw, _since in idle:
            await greenlet_spawn(raw.close)


async def _fetch(raw: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """``sql`` run by asyncpg on the pool connection ``raw``. On an error ``raw`` is done
    with: a lost connection (any error but one the server reported about the statement, or a
    bad argument) is dropped from the pool and reported as SQLAlchemy reports one
    (``OperationalError`` with ``connection_invalidated``), and dropped too when the call is
    cancelled half-way (its state is unknown); otherwise it is returned to the pool."""
    import asyncpg  # type: ignore[import-untyped]

    lost = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)
    driver: Any = raw.driver_connection
    try:
        found: list[Any] = await driver.fetch(sql, *args)
    except (asyncpg.DataError, asyncpg.PostgresError) as exc:
        if not isinstance(exc, lost):  # the server refused the statement: connection fine
            await greenlet_spawn(raw.close)
            raise
        await greenlet_spawn(raw.invalidate, exc)
        raise OperationalError(sql, None, exc, connection_invalidated=True) from exc
    except Exception as exc:  # the client's side of a lost connection (closed, half-way)
        await greenlet_spawn(raw.invalidate, exc)
        raise OperationalError(sql, None, exc, connection_invalidated=True) from exc
    except BaseException:
        await greenlet_spawn(raw.invalidate)
        raise
    return found
