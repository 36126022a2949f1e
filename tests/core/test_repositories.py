"""Repositories on both dialects: optimistic locking, pagination, outbox, sealed secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.gateway import CORE_ONLY, make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import Keyring, make_key
from unifyport.db.database import Database
from unifyport.db.group import GroupCommit
from unifyport.db.models import Account
from unifyport.db.repositories import (
    AccountRepository,
    EventRepository,
    SecretRepository,
    StaleAccount,
)
from unifyport.db.types import utcnow
from unifyport.ids import new_id


def account(offset: int = 0) -> Account:
    now = utcnow() + timedelta(seconds=offset)
    return Account(id=new_id("acc"), provider="p", auth_mode="m", name=None, status="pending",
                   provider_data={}, params={}, identity=None, last_error=None,
                   runtime_status="stopped", runtime_desired=False, version=1,
                   created_at=now, updated_at=now)


async def test_stale_writes_are_refused(db: Database) -> None:
    acc = account()
    async with db.write() as s:
        AccountRepository(s).add(acc)
    async with db.read() as s:
        first = await AccountRepository(s).get(acc.id)
    async with db.read() as s:
        second = await AccountRepository(s).get(acc.id)
    assert first is not None and second is not None
    first.status = "awaiting_code"
    async with db.write() as s:
        await AccountRepository(s).save(first, 1)
    second.status = "failed"
    with pytest.raises(StaleAccount):
        async with db.write() as s:
            await AccountRepository(s).save(second, 1)
    async with db.read() as s:
        stored = await AccountRepository(s).get(acc.id)
    assert stored is not None and (stored.status, stored.version) == ("awaiting_code", 2)


async def test_page_is_newest_first_and_stable(db: Database) -> None:
    rows = [account(i) for i in range(7)]
    async with db.write() as s:
        for r in rows:
            AccountRepository(s).add(r)
    seen: list[str] = []
    cursor = None
    async with db.read() as s:
        for _ in range(5):
            page = await AccountRepository(s).page(3, cursor)
            seen += [a.id for a in page]
            if len(page) < 3:
                break
            cursor = (page[-1].created_at, page[-1].id)
    assert seen == [r.id for r in reversed(rows)]


async def test_events_roll_back_with_their_transaction(db: Database) -> None:
    acc = account()
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            AccountRepository(s).add(acc)
            EventRepository(s).append("account.created", acc.id, {"account_id": acc.id})
            raise RuntimeError("abort")
    async with db.read() as s:
        assert await EventRepository(s).page(10, None) == []
        assert await AccountRepository(s).get(acc.id) is None


async def test_secrets_are_sealed_per_row(db: Database) -> None:
    box = SecretBox(Keyring((make_key(b"k" * 32),)))
    a, b = account(), account(1)
    async with db.write() as s:
        AccountRepository(s).add(a)
        AccountRepository(s).add(b)
        await s.flush()
        await SecretRepository(s, box).put(a.id, "session", b"auth-key-bytes")
    async with db.read() as s:
        assert await SecretRepository(s, box).get(a.id, "session") == b"auth-key-bytes"
        assert await SecretRepository(s, box).get(b.id, "session") is None


async def test_a_group_commit_stores_the_secrets_its_writes_put(db: Database) -> None:
    """Collected at the batch's end: existing rows updated, new ones inserted, the last put
    of a key wins, and a failing write's put is not stored."""
    box = SecretBox(Keyring((make_key(b"k" * 32),)))
    accounts = [account(i) for i in range(6)]
    async with db.write() as s:
        for acc in accounts:
            AccountRepository(s).add(acc)
        await s.flush()
        for acc in accounts[:3]:
            await SecretRepository(s, box).put(acc.id, "session", b"old")
    group = GroupCommit(db)

    def put(i: int, value: bytes, fail: bool = False) -> Callable[[AsyncSession], Awaitable[None]]:
        async def write(s: AsyncSession) -> None:
            await SecretRepository(s, box).put(accounts[i].id, "session", value)
            if fail:
                raise ValueError("this one fails")
        return write

    writes = [put(0, b"first"), put(1, b"new-1"), put(3, b"new-3"), put(0, b"second"),
              put(4, b"new-4"), put(2, b"lost", fail=True), put(5, b"lost", fail=True)]
    results = await asyncio.gather(*(group.run(w) for w in writes), return_exceptions=True)
    assert [isinstance(r, ValueError) for r in results] == [False] * 5 + [True] * 2
    async with db.read() as s:
        stored = [await SecretRepository(s, box).get(a.id, "session") for a in accounts]
    assert stored == [b"second", b"new-1", b"old", b"new-3", b"new-4", None]


async def test_full_code_flow_on_each_database(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "data", CORE_ONLY, database_url=database_url)
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        _, acc = await api.post("/v1/accounts", {
            "provider": "testprov", "auth_mode": "code",
            "provider_data": {"api_id": 1, "api_hash": "h", "phone": "+15551234567"}})
        await api.post(f"/v1/accounts/{acc['id']}/auth/session/start")
        status, body = await api.post(f"/v1/accounts/{acc['id']}/auth/session/code",
                                      {"code": "22222"})
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        status, body = await api.post(f"/v1/accounts/{acc['id']}/auth/session/password",
                                      {"password": "hunter2"})
        assert (status, body["status"]) == (200, "authorized")
