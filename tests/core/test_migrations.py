"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from unifyport.db.database import Database
from unifyport.db.migrate import current_revision, upgrade
from unifyport.db.models import Base
from unifyport.db.types import utcnow


async def test_migrations_match_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        await upgrade(db)  # idempotent

        def diff(conn: Connection) -> list[Any]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))

        async with db.engine.connect() as conn:
            differences = await conn.run_sync(diff)
        assert differences == []
        applied, head = await current_revision(db)
        assert applied == head and head
    finally:
        await db.dispose()


_DELIVERY_OF_EVENT_7 = text(
    "INSERT INTO deliveries (sink, target, event_seq, event_id, status, attempts, created_at, "
    "updated_at) VALUES ('webhook', 'ep', 7, 'evt_a', 'pending', 1, :at, :at)")


async def test_delivery_key_migration_keeps_rows(database_url: str) -> None:
    """0004 rebuilds the deliveries table on SQLite (a new unique key) and, on PostgreSQL,
    leaves room on each page: existing deliveries and their attempts survive, and the key
    still refuses a second delivery of an event to a target."""
    db = Database(database_url)
    try:
        await upgrade(db, "0003")
        async with db.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO events (seq, id, type, account_id, data, created_at) "
                "VALUES (7, 'evt_a', 'message.received', NULL, '{}', :at)"), {"at": utcnow()})
            await conn.execute(_DELIVERY_OF_EVENT_7, {"at": utcnow()})
            await conn.execute(text(
                "INSERT INTO delivery_attempts (delivery_id, event_id, attempt, succeeded, "
                "status_code, error, duration_ms, at) SELECT id, 'evt_a', 1, false, 500, "
                "'HTTP 500', 3, :at FROM deliveries"), {"at": utcnow()})
        await upgrade(db)
        async with db.engine.begin() as conn:
            rows = (await conn.execute(text(
                "SELECT target, event_id FROM deliveries WHERE event_seq = 7"))).all()
            assert [tuple(r) for r in rows] == [("ep", "evt_a")]
            # SQLite rebuilds the table: the attempts that reference it must survive that.
            attempts = (await conn.execute(text(
                "SELECT attempt, status_code FROM delivery_attempts"))).all()
            assert [tuple(r) for r in attempts] == [(1, 500)]
            if db.dialect == "sqlite":  # off only while migrating
                assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            else:
                options = await conn.scalar(text(
                    "SELECT reloptions FROM pg_class WHERE relname = 'deliveries'"))
                assert options == ["fillfactor=50"]
        with pytest.raises(IntegrityError):
            async with db.engine.begin() as conn:
                await conn.execute(_DELIVERY_OF_EVENT_7, {"at": utcnow()})
    finally:
        await db.dispose()
