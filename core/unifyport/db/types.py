"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, ColumnElement, DateTime, Dialect, Integer, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
"""An auto-increment key: BIGINT on PostgreSQL, INTEGER (rowid) on SQLite."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RawJSON(TypeDecorator[Any]):
    """A JSON column read as its stored text, wrapped as ``orjson.Fragment`` for a response
    body to copy as it is (``unifyport.http.rendering``); ``None`` for SQL NULL. For reads
    only: ``type_coerce(cast(column, Text), RawJSON())`` (``unifyport.db.reads``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        raise TypeError("RawJSON columns are read-only")

    def process_result_value(self, value: Any, dialect: Dialect) -> orjson.Fragment | None:
        return None if value is None else orjson.Fragment(value)


class _StoredUTC(FunctionElement[str]):
    """A :class:`UTCDateTime` column as RFC 3339 text with a ``Z`` suffix, exactly what
    ``events.sinks.iso`` makes of its value (microseconds shown unless zero), formatted by
    the database instead of parsed into a datetime and formatted back in Python (~3.5 µs a
    value on SQLite, ~2 µs on PostgreSQL; an account shows three). For reads only:
    :func:`utc_text`."""

    name = "stored_utc"
    inherit_cache = True
    type = Text()


@compiles(_StoredUTC)
def _stored_text(element: _StoredUTC, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite keeps the naive UTC time as SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    column = compiler.process(element.clauses, **kw)
    return f"replace(replace({column}, ' ', 'T') || 'Z', '.000000Z', 'Z')"


@compiles(_StoredUTC, "postgresql")
def _utc_to_char(element: _StoredUTC, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return (f"replace(to_char({column} AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')")


def utc_text(column: ColumnElement[datetime]) -> ColumnElement[str]:
    """``column`` (a :class:`UTCDateTime`) selected as the text the API shows."""
    return _StoredUTC(column)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
