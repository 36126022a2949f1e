"""Apply Alembic migrations (at ``serve`` start and by ``unifyport db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from unifyport.db.database import Database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_PG_LOCK_KEY = 0x756E6966  # advisory lock so concurrent processes migrate one at a time


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to the newest revision (or to ``revision``)."""
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        await conn.run_sync(lambda c: command.upgrade(_config(c), revision))


async def current_revision(db: Database) -> tuple[str | None, str]:
    """(revision applied, newest revision known)."""

    def _read(c: Connection) -> tuple[str | None, str]:
        head = ScriptDirectory.from_config(_config(c)).get_current_head()
        return MigrationContext.configure(c).get_current_revision(), head or ""

    async with db.engine.connect() as conn:
        return await conn.run_sync(_read)
