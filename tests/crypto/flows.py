"""Drive auth flows that store every kind of secret, and read storage back for the tests."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from tests.support.gateway import Api, running
from tests.support.testprovider import TestPlugin
from unifyport.cli.main import main
from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import load_keyring
from unifyport.db.database import Database
from unifyport.db.models import StoredSecret
from unifyport.settings import Settings

PASSWORD = "hunter2"  # the test provider's 2FA password


@dataclass
class Stored:
    """What the flows stored: plaintexts that must never appear at rest or in responses."""

    secrets: list[bytes] = field(default_factory=list)
    transient: list[bytes] = field(default_factory=list)
    """Secrets used by a step but never stored at all (2FA password, import reference)."""
    public: list[bytes] = field(default_factory=list)
    """Non-secret values that must be found at rest (so the scan can fail)."""
    responses: list[Any] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    """Accounts waiting for a code (their flow state is stored)."""
    authorized: list[str] = field(default_factory=list)


async def _ok(api: Api, out: Stored, path: str, body: Any = None, status: int = 200) -> Any:
    code, payload = await api.post(path, body)
    assert code == status, payload
    out.responses.append(payload)
    return payload


async def store_secrets(api: Api, out: Stored, accounts: int = 2) -> Stored:
    """Per round: one account left awaiting its code (fields + auth flow), one through 2FA to
    authorized (fields + session), one imported from a session reference (params + session)."""
    for _ in range(accounts):
        api_hash = f"apihash-{secrets.token_hex(12)}"
        phone = f"+1555{secrets.randbelow(10**7):07d}"
        body = {"provider": "testprov", "auth_mode": "code",
                "provider_data": {"api_id": 12345, "api_hash": api_hash, "phone": phone}}
        waiting = await _ok(api, out, "/v1/accounts", body, 201)
        await _ok(api, out, f"/v1/accounts/{waiting['id']}/auth/session/start")
        out.pending.append(waiting["id"])
        out.secrets += [api_hash.encode(), f"hash-{phone}".encode()]
        out.public.append(phone.encode())

        api_hash2 = f"apihash-{secrets.token_hex(12)}"
        body2 = {**body, "provider_data": {**body["provider_data"], "api_hash": api_hash2}}
        acc = (await _ok(api, out, "/v1/accounts", body2, 201))["id"]
        await _ok(api, out, f"/v1/accounts/{acc}/auth/session/start")
        await _ok(api, out, f"/v1/accounts/{acc}/auth/session/code", {"code": "22222"})
        await _ok(api, out, f"/v1/accounts/{acc}/auth/session/password", {"password": PASSWORD})
        out.authorized.append(acc)
        out.secrets += [api_hash2.encode(), f"session-{acc}".encode()]

        session_url = f"good:{secrets.token_hex(16)}"
        imported = await _ok(api, out, "/v1/accounts",
                             {"provider": "testprov", "auth_mode": "session"}, 201)
        await _ok(api, out, f"/v1/accounts/{imported['id']}/auth/session/import",
                  {"params": {"session_url": session_url}})
        out.authorized.append(imported["id"])
        out.secrets.append(f"session-{imported['id']}".encode())
        out.transient.append(session_url.encode())
    out.transient.append(PASSWORD.encode())
    code, events = await api.get("/v1/events?limit=200")
    assert code == 200
    out.responses.append(events)
    return out


async def open_all(db: Database, box: SecretBox) -> dict[tuple[str, str], bytes]:
    """Every stored secret, opened: ``(account_id, purpose) -> plaintext``."""
    async with db.read() as s:
        rows = (await s.scalars(select(StoredSecret))).all()
    return {(r.account_id, r.purpose): box.open(r.purpose, r.account_id, r.blob) for r in rows}


async def all_rows(db: Database) -> list[tuple[str, tuple[Any, ...]]]:
    """Every row of every table (as ``(table, row)``), in a stable order."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        for name in sorted(names):
            rows = (await conn.execute(text(f'SELECT * FROM "{name}"'))).all()
            out += sorted(((name, tuple(r)) for r in rows), key=repr)
    return out


def row_bytes(rows: list[tuple[str, tuple[Any, ...]]]) -> bytes:
    """The stored values as bytes: raw for binary columns, UTF-8 text for the rest."""
    parts: list[bytes] = []
    for _table, row in rows:
        for value in row:
            parts.append(bytes(value) if isinstance(value, bytes | memoryview)
                         else str(value).encode())
    return b"\x00".join(parts)


Snapshot = dict[tuple[str, str], bytes]


def populate(settings: Settings) -> tuple[Stored, Snapshot]:
    """Run the app, store secrets through auth flows, return them opened."""

    async def go() -> tuple[Stored, Snapshot]:
        stored = Stored()
        async with running(settings, (("testprov", TestPlugin()),)) as api:
            await store_secrets(api, stored)
            return stored, await open_all(api.gateway.db, api.gateway.box)

    return asyncio.run(go())


def cli(capsys: pytest.CaptureFixture[str], settings: Settings, *args: str
        ) -> tuple[int, list[dict[str, Any]]]:
    """Run ``unifyport ARGS --config ...`` in-process; (exit code, JSON lines printed)."""
    rc = main([*args, "--config", str(settings.config_path)])
    out = capsys.readouterr().out
    return rc, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def with_db(settings: Settings, fn: Any) -> Any:
    """``fn(db, box)`` run on a fresh database handle with the configured keys."""

    async def go() -> Any:
        db = Database(settings.storage.effective_database_url)
        try:
            return await fn(db, SecretBox(load_keyring(settings)))
        finally:
            await db.dispose()

    return asyncio.run(go())
