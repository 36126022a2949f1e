"""Malformed input answers 4xx with a stable code, never 500 (issue #19 items 3, 7 and 8)."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.core.test_runtime import authorized
from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from unifyport.db import database
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade

pytestmark = pytest.mark.loop_watchdog


def _cursor(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def test_deeply_nested_body_is_400(api: Api) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    for path in ("/v1/accounts", "/v1/events/evt_x/redeliver"):
        response = await api.client.post(path, data=body, headers={
            "Authorization": f"Bearer {api.key}", "Content-Type": "application/json"})
        assert response.status_code == 400, path
        assert (await response.get_json())["error"]["code"] == "invalid_request"
    nested: object = {}
    for _ in range(200):  # parses, but deeper than any request needs
        nested = {"a": nested}
    status, body = await api.post("/v1/accounts", {"provider": "testprov", "auth_mode": "code",
                                                   "provider_data": nested})
    assert (status, body["error"]["code"]) == (400, "invalid_request"), body


@pytest.mark.parametrize("cursor", [
    _cursor("2020-01-01T00:00:00", "acc_x"),            # naive time
    _cursor("9999-12-31T23:59:59-23:59", "acc_x"),       # past the calendar in UTC
    _cursor("0001-01-01T00:00:00+23:59", "acc_x"),       # before it
    _cursor(1, 2, 3), _cursor([[[]]], {}), _cursor("2020-01-01T00:00:00+00:00", None),
    base64.urlsafe_b64encode(b"[" * 5000).decode(), "%%%", "\u00e9", "a" * 5000,
])
async def test_wrong_account_cursors_are_400(api: Api, cursor: str) -> None:
    response = await api.client.get("/v1/accounts", query_string={"cursor": cursor},
                                    headers={"Authorization": f"Bearer {api.key}"})
    body = await response.get_json()
    assert (response.status_code, body["error"]["code"]) == (400, "invalid_request"), body


@pytest.mark.parametrize("cursor", ["-1", "9" * 30, str(1 << 63), "1e3", "x", "١٢"])
async def test_wrong_event_cursors_are_400(api: Api, cursor: str) -> None:
    response = await api.client.get("/v1/events", query_string={"cursor": cursor},
                                    headers={"Authorization": f"Bearer {api.key}"})
    body = await response.get_json()
    assert (response.status_code, body["error"]["code"]) == (400, "invalid_request"), body


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                   "2020-01-01T00:00:00", "yesterday", "2020-13-01T00:00:00Z"])
async def test_wrong_since_is_400(api: Api, since: str) -> None:
    response = await api.client.get("/v1/events", query_string={"since": since},
                                    headers={"Authorization": f"Bearer {api.key}"})
    body = await response.get_json()
    assert (response.status_code, body["error"]["code"]) == (400, "invalid_request"), body


async def test_calendar_edges_that_exist_are_200(api: Api) -> None:
    await authorized(api)
    for since in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59+05:00"):
        status, body = await api.get(f"/v1/events?since={since.replace('+', '%2B')}")
        assert status == 200, (since, body)


async def test_options_needs_a_key_and_discloses_nothing(api: Api) -> None:
    for path in ("/v1/accounts", "/v1/accounts/acc_x/runtime/start", "/v1/no-such-route"):
        response = await api.client.options(path)
        assert response.status_code == 401, path
        assert "Allow" not in response.headers
        assert (await response.get_json())["error"]["code"] == "unauthorized"
    status, _ = await api.call("OPTIONS", "/v1/accounts")
    assert status == 200  # with a key, like any other method


async def test_database_files_are_private(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unifyport.db'}")
    await upgrade(db)
    async with db.write() as s:  # the WAL and shared-memory files exist while it is open
        from sqlalchemy import text
        await s.execute(text("SELECT 1"))
        files = sorted(tmp_path.glob("unifyport.db*"))
        assert {p.name for p in files} >= {"unifyport.db", "unifyport.db-wal",
                                           "unifyport.db-shm"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    await db.dispose()


async def test_an_existing_wide_database_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    await db.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_database_locked_elsewhere_is_503_not_500(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holding SQLite's write lock past the busy timeout: 503 ``not_ready``
    with ``Retry-After`` (a real lock on the real file; only the 30 s wait is shortened)."""
    monkeypatch.setattr(database, "SQLITE_BUSY_SECONDS", 0.3)
    data = tmp_path / "data"
    async with running(make_settings(data, CORE_ONLY)) as api:
        holder = sqlite3.connect(data / "unifyport.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            response = await api.client.post(
                "/v1/keys", json={"name": "during", "scopes": ["admin"]},
                headers={"Authorization": f"Bearer {api.key}"})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        body = await response.get_json()
        assert response.status_code == 503, body
        assert body["error"]["code"] == "not_ready"
        assert response.headers["Retry-After"] == "1"
        status, _ = await api.post("/v1/keys", {"name": "after", "scopes": ["admin"]})
        assert status == 201
