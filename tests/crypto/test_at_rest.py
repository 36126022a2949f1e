"""After flows that store secrets, no plaintext is at rest, in API responses or in logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.crypto.flows import Stored, all_rows, open_all, row_bytes, store_secrets
from tests.support.gateway import make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.gateway import AUTH_FLOW, FIELDS, SESSION


def raw_sqlite(data_dir: Path) -> bytes:
    """The database file and its WAL, byte for byte (the WAL holds recent commits)."""
    db = data_dir / "unifyport.db"
    wal = data_dir / "unifyport.db-wal"
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def assert_hidden(raw: bytes, stored: Stored) -> None:
    for value in stored.public:  # the scan sees the data: a plainly stored secret would show
        assert value in raw, value
    for value in stored.secrets + stored.transient:
        assert value not in raw, value


async def test_sqlite_file_and_wal_hold_no_plaintext_secret(
        data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stored = Stored()
    async with running(make_settings(data_dir), (("testprov", TestPlugin()),)) as api:
        await store_secrets(api, stored)
        gw = api.gateway
        opened = await open_all(gw.db, gw.box)
        purposes = {purpose for _acc, purpose in opened}
        assert purposes == {FIELDS, SESSION, AUTH_FLOW}
        plain = b"\x00".join(opened.values())
        assert [v for v in stored.secrets if v not in plain] == []
        assert (data_dir / "unifyport.db-wal").stat().st_size > 0
        assert_hidden(raw_sqlite(data_dir), stored)
    assert_hidden(raw_sqlite(data_dir), stored)  # after shutdown and checkpoint
    logged = caplog.text.encode()
    for value in stored.secrets + stored.transient:
        assert value not in logged, value


async def test_postgresql_tables_hold_no_plaintext_secret(postgres_url: str, data_dir: Path
                                                          ) -> None:
    stored = Stored()
    settings = make_settings(data_dir, database_url=postgres_url)
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        await store_secrets(api, stored)
        gw = api.gateway
        assert {p for _a, p in await open_all(gw.db, gw.box)} == {FIELDS, SESSION, AUTH_FLOW}
        assert_hidden(row_bytes(await all_rows(gw.db)), stored)


async def test_api_responses_never_show_secrets(data_dir: Path) -> None:
    stored = Stored()
    async with running(make_settings(data_dir), (("testprov", TestPlugin()),)) as api:
        await store_secrets(api, stored, accounts=1)
        for acc in stored.pending + stored.authorized:
            status, account = await api.get(f"/v1/accounts/{acc}")
            assert status == 200
            assert "api_hash" not in account["provider_data"]
            assert "session_url" not in account["params"]
            stored.responses.append(account)
        status, listing = await api.get("/v1/accounts?limit=100")
        assert status == 200 and len(listing["data"]) == len(stored.pending + stored.authorized)
        stored.responses.append(listing)
    shown = json.dumps(stored.responses).encode()
    assert stored.public[0] in shown  # the phone is public and is shown
    for value in stored.secrets + stored.transient:
        assert value not in shown, value
