"""Verified API keys are cached per process; a key revoked or deleted anywhere stops working
everywhere within ``KEY_CACHE_SECONDS`` (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from unifyport import apikeys
from unifyport.apikeys import KEY_CACHE_SECONDS, create_key, revoke_key
from unifyport.db.database import Database

SLACK = 1.0
"""Allowed beyond the bound for the polling requests themselves on a busy machine."""


def cli(data_dir: Path, *args: str) -> dict[str, object]:
    """A ``unifyport`` command in its own process, on the gateway's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    cfg = data_dir.parent / f"{data_dir.name}.toml"
    done = subprocess.run([sys.executable, "-m", "unifyport.cli.main", *args, "--config",
                           str(cfg)], capture_output=True, text=True, timeout=60, env=env,
                          cwd=data_dir.parent, check=False)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    return json.loads(line) if line.startswith("{") else {"out": line}


async def status_with(api: Api, token: str) -> int:
    status, _ = await api.call("GET", "/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    return status


async def refused_after(api: Api, token: str, since: float) -> float:
    """Poll with ``token`` (bounded) until it is refused; seconds from ``since``."""
    deadline = since + KEY_CACHE_SECONDS + SLACK + 5
    while time.monotonic() < deadline:
        status = await status_with(api, token)
        if status == 401:
            return time.monotonic() - since
        assert status == 200
        await anyio.sleep(0.02)
    raise AssertionError("the key was never refused")


async def test_key_revoked_by_another_process(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    async with running(make_settings(data, CORE_ONLY, database_url=database_url)) as api:
        # The commands run in a thread: the gateway's event loop must keep running (a lease
        # renewal it began holds SQLite's write lock until the loop finishes it).
        created = await asyncio.to_thread(cli, data, "keys", "create", "--name", "ci")
        token = str(created["key"])
        assert await status_with(api, token) == 200  # new keys work at once: now cached
        assert await status_with(api, token) == 200
        await asyncio.to_thread(cli, data, "keys", "revoke", str(created["id"]))
        assert await refused_after(api, token, time.monotonic()) <= KEY_CACHE_SECONDS + SLACK
        for _ in range(5):  # and stays refused
            assert await status_with(api, token) == 401
        assert await status_with(api, api.key) == 200


async def test_two_gateways_on_one_database(tmp_path: Path, database_url: str) -> None:
    one = make_settings(tmp_path / "one", CORE_ONLY, database_url=database_url)
    async with running(one) as first:
        (tmp_path / "two").mkdir()
        for name in ("master.key", "admin-api-key"):
            target = tmp_path / "two" / name
            target.write_bytes((tmp_path / "one" / name).read_bytes())
            target.chmod(0o600)
        two = make_settings(tmp_path / "two", CORE_ONLY, database_url=database_url)
        async with running(two) as second:
            row, token = await create_key(first.gateway.db, "shared")
            for api in (first, second):
                assert await status_with(api, token) == 200
            assert await revoke_key(first.gateway.db, row.id)
            revoked = time.monotonic()
            assert await status_with(first, token) == 401  # at once where it was revoked
            assert await refused_after(second, token, revoked) <= KEY_CACHE_SECONDS + SLACK


async def test_deleted_key_is_not_served(tmp_path: Path, database_url: str) -> None:
    """A row removed by hand (no code path of the gateway) is noticed all the same."""
    data = tmp_path / "data"
    async with running(make_settings(data, CORE_ONLY, database_url=database_url)) as api:
        _row, token = await create_key(api.gateway.db, "doomed")
        assert await status_with(api, token) == 200
        other = Database(api.gateway.db.url)
        try:
            async with other.write() as s:
                await s.execute(text("DELETE FROM api_keys WHERE name = 'doomed'"))
        finally:
            await other.dispose()
        assert await refused_after(api, token, time.monotonic()) <= KEY_CACHE_SECONDS + SLACK
        for _ in range(5):
            assert await status_with(api, token) == 401


async def test_unknown_tokens_do_not_crowd_out_keys(api: Api,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apikeys, "KEY_CACHE_ENTRIES", 3)
    for i in range(10):
        assert await status_with(api, f"upk_unknown{i}") == 401
        assert await status_with(api, api.key) == 200
    assert await status_with(api, "upk_" + "x" * 300) == 401
    assert await status_with(api, "not-a-key") == 401
