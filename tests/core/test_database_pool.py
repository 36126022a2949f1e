"""Pooled PostgreSQL connections: one that sat idle is tested before use, so a connection the
server dropped (restart, idle timeout) is replaced instead of failing the next transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.support.gateway import CORE_ONLY, make_settings, running
from unifyport.db import database
from unifyport.db.database import Database


def _pid(c: Connection) -> int:
    return int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())


async def _drop_pooled_connection(db: Database, killer: Database) -> int:
    """Open a connection, return it to the pool, and have the server terminate it."""
    pid = await db.run(_pid, write=False)
    terminated = await killer.run(
        lambda c: c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one())
    assert terminated
    return pid


async def test_an_idle_pooled_connection_the_server_dropped_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, killer = Database(postgres_url), Database(postgres_url)
    try:
        dead = await _drop_pooled_connection(db, killer)
        monkeypatch.setattr(database, "IDLE_PING", 0.0)  # every checkout counts as idle
        assert await db.run(_pid, write=False) != dead
    finally:
        await db.dispose()
        await killer.dispose()


async def test_a_recently_used_connection_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the saving: within IDLE_PING a checkout goes straight to work (here
    onto the dropped connection, which fails; the pool then replaces it)."""
    db, killer = Database(postgres_url), Database(postgres_url)
    try:
        monkeypatch.setattr(database, "IDLE_PING", 3600.0)
        dead = await _drop_pooled_connection(db, killer)
        with pytest.raises(DBAPIError):
            await db.run(_pid, write=False)
        assert await db.run(_pid, write=False) != dead
    finally:
        await db.dispose()
        await killer.dispose()


async def test_an_api_request_on_a_dropped_connection_answers_503_and_the_retry_works(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING", 3600.0)  # no ping: the request meets the loss
    killer = Database(postgres_url)
    settings = make_settings(tmp_path / "data", CORE_ONLY, database_url=postgres_url)
    try:
        async with running(settings) as api:
            assert (await api.get("/v1/accounts"))[0] == 200
            await killer.run(lambda c: c.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")))
            status, body = await api.get("/v1/accounts")
            assert status == 503 and body["error"]["code"] == "not_ready"
            assert body["error"]["retry_after"] == 1
            assert (await api.get("/v1/accounts"))[0] == 200
    finally:
        await killer.dispose()


_BACKEND = select(func.pg_backend_pid())


async def _held_pid(db: Database) -> int:
    """The server process of a connection the hot reads hold (``Database.rows``)."""
    return int((await db.rows(_BACKEND, {}))[0][0])


async def test_a_held_read_connection_the_server_dropped_is_replaced_after_idling(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot reads keep their connections between reads; one idle past IDLE_PING is pinged
    first, so a connection the server dropped meanwhile costs no failed read."""
    db, killer = Database(postgres_url), Database(postgres_url)
    try:
        dead = await _held_pid(db)
        assert await _held_pid(db) == dead  # held: the same connection read after read
        await killer.run(lambda c: c.execute(text("SELECT pg_terminate_backend(:p)"),
                                             {"p": dead}))
        monkeypatch.setattr(database, "IDLE_PING", 0.0)
        assert await _held_pid(db) != dead
    finally:
        await db.dispose()
        await killer.dispose()


async def test_a_held_read_connection_lost_within_idle_ping_fails_one_read(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING", 3600.0)
    db, killer = Database(postgres_url), Database(postgres_url)
    try:
        dead = await _held_pid(db)
        await killer.run(lambda c: c.execute(text("SELECT pg_terminate_backend(:p)"),
                                             {"p": dead}))
        with pytest.raises(OperationalError) as lost:
            await _held_pid(db)
        assert lost.value.connection_invalidated
        assert await _held_pid(db) != dead
    finally:
        await db.dispose()
        await killer.dispose()
