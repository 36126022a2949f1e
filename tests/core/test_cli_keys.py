"""``unifyport keys`` and ``db upgrade`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from unifyport.apikeys import hash_key


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unifyport.cli.main", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


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
