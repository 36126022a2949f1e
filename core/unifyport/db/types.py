"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, ColumnElement, DateTime, Dialect, Integer, Text, type_coerce
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


class UTCText(TypeDecorator[str]):
    """A :class:`UTCDateTime` column read as RFC 3339 text with a ``Z`` suffix, exactly what
    ``events.sinks.iso`` makes of its value (microseconds shown unless zero), formatted
    from the stored text instead of parsed into a datetime and formatted back (~3.5 µs a
    value on SQLite, ~2 µs on PostgreSQL; an account shows three). For reads only:
    :func:`utc_text`. Both dialects hand over ``YYYY-MM-DD HH:MM:SS.ffffff``: SQLite as
    SQLAlchemy stores it, PostgreSQL by ``to_char`` in UTC."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        raise TypeError("UTCText columns are read-only")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = f"{value[:10]}T{value[11:]}"
        return f"{text[:-7] if text.endswith('.000000') else text}Z"


class _StoredUTC(FunctionElement[str]):
    name = "stored_utc"
    inherit_cache = True
    type = Text()


@compiles(_StoredUTC)
def _stored_text(element: _StoredUTC, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite keeps the naive UTC time as text already."""
    return str(compiler.process(element.clauses, **kw))


@compiles(_StoredUTC, "postgresql")
def _utc_to_char(element: _StoredUTC, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def utc_text(column: ColumnElement[datetime]) -> ColumnElement[str]:
    """``column`` (a :class:`UTCDateTime`) selected as :class:`UTCText`."""
    return type_coerce(_StoredUTC(column), UTCText())


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
