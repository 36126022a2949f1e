"""The hot read routes (views on plain connections, JSON copied as stored) answer exactly what
the model instances render, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import orjson
from sqlalchemy import bindparam, select

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.accounts.service import get_account, list_accounts, open_json
from unifyport.accounts.views import account_json
from unifyport.db import reads
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.db.repositories import AccountRepository, EventRepository
from unifyport.db.types import utcnow
from unifyport.events.envelope import event_json
from unifyport.gateway import AUTH_FLOW, FIELDS

CODE = {"provider": "testprov", "auth_mode": "code",
        "provider_data": {"api_id": 1, "api_hash": "s3cr3t-hash", "phone": "+15551234567"}}
ODD_JSON = {"name": "Zoë ☃ \u2028 \"quoted\" \\", "big": 2**70, "float": 2.5,
            "nested": {"list": [1, None, True, {"k": []}]}}


async def _pages(api: Api, path: str) -> list[dict[str, Any]]:
    """Every item of a paginated list, two at a time."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        sep = "&" if "?" in path else "?"
        status, page = await api.get(f"{path}{sep}limit=2" + (f"&cursor={cursor}" if cursor
                                                                else ""))
        assert status == 200, page
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


async def test_views_answer_what_models_render(tmp_path: Path, database_url: str,
                                                plugin: TestPlugin) -> None:
    settings = make_settings(tmp_path / "data", CORE_ONLY, database_url=database_url)
    async with running(settings, (("testprov", plugin),)) as api:
        gw = api.gateway
        ids = []
        for name in ("Zoë ☃", None, "plain"):
            status, body = await api.post("/v1/accounts", {**CODE, "name": name})
            assert status == 201, body
            ids.append(body["id"])
        account = await get_account(gw, ids[0])
        account.identity = ODD_JSON
        account.last_error = {"code": "x", "message": "é"}
        account.runtime_since = utcnow().replace(microsecond=0)  # isoformat drops ".000000"
        async with gw.db.write() as s:
            await AccountRepository(s).save(account, account.version)

        for acc in ids:
            status, body = await api.get(f"/v1/accounts/{acc}")
            assert status == 200 and body == account_json(await get_account(gw, acc))
        status, body = await api.get(f"/v1/accounts/{ids[0]}")
        assert body["identity"] == ODD_JSON and body["identity"]["big"] == 2**70
        assert body["runtime"]["since"] == account.runtime_since.isoformat()[:19] + "Z"

        models, _ = await list_accounts(gw, 50, None, None, None)
        expected = [account_json(a) for a in models]
        assert await _pages(api, "/v1/accounts") == expected
        assert await _pages(api, "/v1/accounts?provider=testprov&status=pending") == expected
        assert await _pages(api, "/v1/accounts?status=authorized") == []

        async with gw.db.read() as s:
            events = [event_json(e) for e in await EventRepository(s).page(50, None)]
        assert len(events) == 3
        assert await _pages(api, "/v1/events") == events
        assert await _pages(api, f"/v1/events?account_id={ids[1]}&type=account.created") == [
            e for e in events if e["data"]["account_id"] == ids[1]]
        status, body = await api.get("/v1/accounts/acc_missing")
        assert (status, body["error"]["code"]) == (404, "not_found")


async def test_a_model_body_beyond_orjson_is_still_answered(api: Api) -> None:
    """A value orjson refuses (an integer past 64 bits) goes through the standard library."""
    account = await get_account(api.gateway, (await api.post("/v1/accounts", CODE))[1]["id"])
    async with api.app.app_context():
        response = api.app.json.response({"account": account_json(account), "big": 2**70})
    assert (await response.get_json())["big"] == 2**70


def _plain(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """JSON fragments as their text (fragments do not compare)."""
    return [tuple(orjson.dumps(v) if isinstance(v, orjson.Fragment) else v for v in r)
            for r in rows]


async def test_driver_reads_return_what_sqlalchemy_returns(tmp_path: Path, database_url: str,
                                                          plugin: TestPlugin) -> None:
    """``Database.rows`` (the driver run directly, with the column types' processors) gives
    the very values SQLAlchemy gives for the same statement: aware datetimes, decoded JSON,
    JSON fragments, blobs; parameters processed alike (a datetime cursor); an expanding
    ``IN`` list runs through SQLAlchemy."""
    settings = make_settings(tmp_path / "data", CORE_ONLY, database_url=database_url)
    async with running(settings, (("testprov", plugin),)) as api:
        db = api.gateway.db
        ids = [(await api.post("/v1/accounts", {**CODE, "name": f"n{i}"}))[1]["id"]
               for i in range(3)]
        newest = await get_account(api.gateway, ids[-1])
        statements = [
            reads.account_page_query(10, None, "testprov", None),
            reads.account_page_query(10, (newest.created_at, newest.id), None, "pending",
                                     view=True),
            reads.event_page_query(10, None, "account.created", ids[0], None, view=True),
            (reads._account_sealed_query((FIELDS, AUTH_FLOW)), {"id": ids[0]}),
            (select(reads.ACCOUNTS.c.id).where(
                reads.ACCOUNTS.c.id.in_(bindparam("ids", expanding=True))),
             {"ids": ids[:2]}),
        ]
        for statement, params in statements:
            expected = _plain(await db.query(
                lambda conn, q=statement, p=params: [tuple(r) for r in conn.execute(q, p)]))
            got = _plain(await db.rows(statement, params))
            assert got == expected and got, statement
            assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]
        row, (fields, flow) = await reads.fetch_account_sealed(db, ids[0], (FIELDS, AUTH_FLOW))
        assert row == (await db.query(lambda c: reads.account(c, ids[0])))._asdict()
        assert flow is None and fields is not None
        assert open_json(api.gateway, ids[0], FIELDS, fields)["provider_data"] == {
            "api_hash": "s3cr3t-hash"}
        assert await reads.fetch_account_sealed(db, "acc_missing", (FIELDS,)) is None


async def test_a_driver_read_of_a_locked_sqlite_file_waits_off_the_event_loop(
        tmp_path: Path) -> None:
    """Another connection holding the file exclusively (WAL readers otherwise never wait):
    the read moves to the database thread and answers once the lock is released, while the
    event loop runs on."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    other = sqlite3.connect(tmp_path / "gw.db", isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    db = Database(url)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                found: list[Any] = []

                async def read() -> None:
                    found.append(await reads.fetch_account_view_page(db, 5, None))

                tg.start_soon(read)
                await anyio.sleep(0.3)  # the loop is free while the read waits
                assert not found
                other.execute("COMMIT")
                other.close()
        assert found == [[]]
    finally:
        other.close()
        await db.dispose()
