"""The test infrastructure itself: the PostgreSQL server fixture and the
``database_url`` fixture that runs storage tests on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.postgres import fresh_database
from tests.fixtures.postgres_cluster import PostgresServer
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade

CORE_TABLES = {"accounts", "api_keys", "secrets", "events"}


async def _user_tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def test_postgres_server_answers_queries(postgres_server: PostgresServer) -> None:
    url = postgres_server.url_for("postgres")
    assert url.startswith("postgresql+asyncpg://")
    version = await _scalar(url, "SELECT version()")
    assert version.startswith("PostgreSQL ")


async def test_postgres_urls_are_distinct_empty_databases(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with fresh_database(postgres_server) as second:
        assert postgres_url != second
        assert await _user_tables(postgres_url) == set()
        assert await _user_tables(second) == set()
        await _scalar(postgres_url, "CREATE TABLE only_here (id integer)")
        current = await _scalar(postgres_url, "SELECT current_database()")
        assert postgres_url.endswith("/" + current)
        assert await _user_tables(postgres_url) == {"only_here"}
        assert await _user_tables(second) == set()
    second_name = second.rsplit("/", 1)[1]
    remaining = await _scalar(
        postgres_server.url_for("postgres"),
        "SELECT count(*) FROM pg_database WHERE datname = :name",
        name=second_name,
    )
    assert remaining == 0  # dropped on exit


async def test_migrations_apply_on_each_backend(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        await upgrade(db)  # a second run is a no-op
    finally:
        await db.dispose()
    tables = await _user_tables(database_url)
    assert CORE_TABLES <= tables
    assert "alembic_version" in tables
