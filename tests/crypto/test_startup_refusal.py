"""Start-up refuses (exit 2, one line naming ``security.master_key_file``) when the configured
keys cannot open the stored secrets, and leaves the database exactly as it was."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.crypto.flows import all_rows, populate
from tests.support.gateway import make_settings
from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import make_key, new_key_line, parse_keys
from unifyport.db.database import Database
from unifyport.db.migrate import MIGRATIONS, current_revision
from unifyport.db.types import UTCDateTime, utcnow
from unifyport.gateway import SESSION
from unifyport.settings import Settings

UNIFYPORT = Path(sys.executable).with_name("unifyport")
REFUSAL = "unifyport: configuration error: security.master_key_file: "


def run_cli(settings: Settings, *args: str, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    return subprocess.run(
        [str(UNIFYPORT), *args, "--config", str(settings.config_path)],
        env={**clean, **(env or {})}, cwd=settings.storage.data_dir.parent,
        capture_output=True, text=True, timeout=120, check=False,
    )


def on_disk(settings: Settings) -> dict[str, Any]:
    """What must not change: SQLite file and WAL bytes, or every PostgreSQL row; the key file."""
    data = settings.storage.data_dir
    key_file = data / "master.key"
    state: dict[str, Any] = {"key": key_file.read_bytes() if key_file.exists() else None}
    if settings.storage.database_url.startswith("sqlite"):
        for suffix in ("", "-wal"):
            f = data / f"unifyport.db{suffix}"
            state[suffix or "db"] = hashlib.sha256(f.read_bytes() if f.exists() else b"").digest()
    else:
        async def rows() -> Any:
            db = Database(settings.storage.database_url)
            try:
                return await all_rows(db)
            finally:
                await db.dispose()

        state["rows"] = asyncio.run(rows())
    return state


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    reasons = [ln for ln in lines if ln.startswith("unifyport:")]
    assert reasons == lines[-1:], result.stderr  # one line, the last one
    assert reasons[0].startswith(REFUSAL), reasons[0]
    for word in words:
        assert word in reasons[0]


def break_keys(settings: Settings, how: str) -> dict[str, str]:
    """Misconfigure the keys; returns the environment to run with."""
    key_file = settings.storage.data_dir / "master.key"
    if how == "wrong_environment_key":
        return {"UNIFYPORT_MASTER_KEY": new_key_line()}
    if how == "key_file_without_the_sealing_key":
        key_file.write_text(new_key_line() + "\n")
    elif how == "key_file_missing":
        key_file.unlink()
    return {}


def sqlite_settings(data_dir: Path, database_url: str) -> Settings:
    if database_url.startswith("sqlite"):  # keep the SQLite file in the data dir
        database_url = f"sqlite+aiosqlite:///{data_dir / 'unifyport.db'}"
    return make_settings(data_dir, "[server]\nport = 0\n", database_url=database_url)


HOW = ["wrong_environment_key", "key_file_without_the_sealing_key", "key_file_missing"]


@pytest.mark.parametrize("how", HOW)
def test_serve_and_db_upgrade_refuse_and_change_nothing(
        database_url: str, data_dir: Path, how: str) -> None:
    settings = sqlite_settings(data_dir, database_url)
    _stored, snapshot = populate(settings)
    assert snapshot
    env = break_keys(settings, how)
    before = on_disk(settings)
    for args in (("serve",), ("db", "upgrade"), ("secrets", "rotate")):
        result = run_cli(settings, *args, env=env)
        assert_refused(result, "does not exist" if how == "key_file_missing"
                       else "not hold")
        assert on_disk(settings) == before, args
    if how == "key_file_missing":
        assert not (data_dir / "master.key").exists()


def test_refusal_leaves_an_unchecked_wal_untouched(data_dir: Path) -> None:
    """After a crash the WAL holds commits not yet in the main file: a refused start must not
    checkpoint them (the check reads through a read-only connection)."""
    settings = sqlite_settings(data_dir, "sqlite")
    populate(settings)
    db_file = data_dir / "unifyport.db"
    crash = ("import os, sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0')\n"
             "c.execute(\"UPDATE accounts SET name = 'after-crash'\"); c.commit(); os._exit(0)\n")
    subprocess.run([sys.executable, "-c", crash, str(db_file)], check=True, timeout=60)
    assert (data_dir / "unifyport.db-wal").stat().st_size > 0
    env = break_keys(settings, "wrong_environment_key")
    before = on_disk(settings)
    for args in (("serve",), ("db", "upgrade")):
        assert_refused(run_cli(settings, *args, env=env), "not hold")
        assert on_disk(settings) == before, args


def test_refusal_comes_before_migrations(database_url: str, data_dir: Path) -> None:
    """A database at an older revision holding secrets is not migrated by a refused start."""
    settings = sqlite_settings(data_dir, database_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    old_key = new_key_line()

    async def prepare() -> None:
        db = Database(settings.storage.effective_database_url)
        try:
            async with db.engine.begin() as conn:
                def to_first(c: Any) -> None:
                    cfg = Config()
                    cfg.set_main_option("script_location", str(MIGRATIONS))
                    cfg.attributes["connection"] = c
                    command.upgrade(cfg, "0001")

                await conn.run_sync(to_first)
            box = SecretBox(parse_keys(old_key, "test"))
            now = utcnow()
            accounts = sa.table(  # the columns of revision 0001, whatever the model says now
                "accounts", *(sa.column(c) for c in (
                    "id", "provider", "auth_mode", "status", "runtime_status",
                    "runtime_desired", "version")),
                sa.column("provider_data", sa.JSON), sa.column("params", sa.JSON),
                sa.column("created_at", UTCDateTime), sa.column("updated_at", UTCDateTime))
            secrets = sa.table("secrets", sa.column("account_id"), sa.column("purpose"),
                               sa.column("key_id"), sa.column("blob", sa.LargeBinary),
                               sa.column("updated_at", UTCDateTime))
            async with db.write() as s:
                await s.execute(accounts.insert().values(
                    id="acc_old", provider="testprov", auth_mode="code", status="authorized",
                    runtime_status="stopped", runtime_desired=False, version=1,
                    provider_data={}, params={}, created_at=now, updated_at=now))
                await s.execute(secrets.insert().values(
                    account_id="acc_old", purpose=SESSION, key_id=box.sealing_key_id,
                    blob=box.seal(SESSION, "acc_old", b"old-session"), updated_at=now))
        finally:
            await db.dispose()

    async def revision() -> str | None:
        db = Database(settings.storage.effective_database_url)
        try:
            return (await current_revision(db))[0]
        finally:
            await db.dispose()

    asyncio.run(prepare())
    assert asyncio.run(revision()) == "0001"
    old_id = make_key(base64.b64decode(old_key)).key_id
    for args in (("db", "upgrade"), ("serve",)):
        assert_refused(run_cli(settings, *args, env={"UNIFYPORT_MASTER_KEY": new_key_line()}),
                       old_id)
        assert asyncio.run(revision()) == "0001"
    ok = run_cli(settings, "db", "upgrade", env={"UNIFYPORT_MASTER_KEY": old_key})
    assert ok.returncode == 0, ok.stderr
    assert asyncio.run(revision()) != "0001"
