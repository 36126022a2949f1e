"""``unifyport keys`` and ``db upgrade`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.apikeys import hash_key


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unifyport.cli.main", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


async def acli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """:func:`cli` off the event loop."""
    return await asyncio.to_thread(cli, tmp_path, *args)


def test_create_list_revoke(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    created = cli(tmp_path, "keys", "create", "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["key"].startswith("upk_") and key["name"] == "ci"
    db = (tmp_path / "data" / "unifyport.db").read_bytes()
    assert key["key"].encode() not in db, "only the hash is stored"
    assert hash_key(key["key"]).encode() in db
    listed = [json.loads(line) for line in cli(tmp_path, "keys", "list").stdout.splitlines()]
    assert [(k["id"], k["name"], k["revoked_at"]) for k in listed] == [(key["id"], "ci", None)]
    assert key["key"] not in str(listed) and listed[0]["prefix"] == key["key"][:10]
    assert cli(tmp_path, "keys", "revoke", key["id"]).returncode == 0
    listed = [json.loads(line) for line in cli(tmp_path, "keys", "list").stdout.splitlines()]
    assert listed[0]["revoked_at"] is not None
    again = cli(tmp_path, "keys", "revoke", key["id"])
    assert again.returncode == 1 and "no active key" in again.stdout


async def test_create_scoped_key(tmp_path: Path) -> None:
    """``keys create --scope … --account …`` makes a key the API limits to that account."""
    settings = make_settings(tmp_path / "data", CORE_ONLY)
    code = {"provider": "testprov", "auth_mode": "code",
            "provider_data": {"api_id": 1, "api_hash": "h", "phone": "+15551234567"}}
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        mine, other = [(await api.post("/v1/accounts", code))[1]["id"] for _ in range(2)]
    refused = await acli(tmp_path, "keys", "create", "--name", "s", "--scope", "read")
    assert refused.returncode == 2 and "account_ids" in refused.stdout
    refused = await acli(tmp_path, "keys", "create", "--name", "s", "--scope", "read",
                  "--account", "acc_nope")
    assert refused.returncode == 2 and "no account acc_nope" in refused.stdout
    created = await acli(tmp_path, "keys", "create", "--name", "s", "--scope", "read",
                  "--scope", "send", "--account", mine)
    assert created.returncode == 0, created.stdout + created.stderr
    key = json.loads(created.stdout)
    assert key["scopes"] == ["read", "send"] and key["account_ids"] == [mine]
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        scoped = Api(api.app, api.client, key["key"])
        assert (await scoped.get(f"/v1/accounts/{mine}"))[0] == 200
        assert (await scoped.get(f"/v1/accounts/{other}"))[0] == 404
        assert (await scoped.post(f"/v1/accounts/{mine}/runtime/start"))[0] == 403
