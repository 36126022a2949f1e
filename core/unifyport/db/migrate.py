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
    """Bring the schema to the newest revision (or to ``revision``).

    On SQLite foreign keys are off while migrating: a migration that rebuilds a table (batch
    mode) drops the old one, which with them on would first delete every row referencing it
    (``ON DELETE CASCADE``). The pragma cannot change inside a transaction, so it is set
    around it, and the references are checked before the migration commits."""
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            await conn.run_sync(_sqlite_foreign_keys, False)
        try:
            async with conn.begin():
                if db.dialect == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                       {"k": _PG_LOCK_KEY})
                await conn.run_sync(lambda c: command.upgrade(_config(c), revision))
                if db.dialect == "sqlite":
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration left broken references: {broken[:5]}")
        finally:
            if db.dialect == "sqlite":
                await conn.run_sync(_sqlite_foreign_keys, True)


def _sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    """Set the pragma on the driver connection, outside any transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


async def current_revision(db: Database) -> tuple[str | None, str]:
    """(revision applied, newest revision known)."""

    def _read(c: Connection) -> tuple[str | None, str]:
        head = ScriptDirectory.from_config(_config(c)).get_current_head()
        return MigrationContext.configure(c).get_current_revision(), head or ""

    async with db.engine.connect() as conn:
        return await conn.run_sync(_read)
