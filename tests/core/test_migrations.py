"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from unifyport.db.database import Database
from unifyport.db.migrate import current_revision, upgrade
from unifyport.db.models import Base


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
