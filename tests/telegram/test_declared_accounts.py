"""Accounts declared in the configuration (``[[accounts]]``): online after a real ``serve``
with no API call, ``accounts apply --dry-run`` and its output, pruning, a refused credential
that does not stop the others, and ``config check``; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from tests.core.test_serve import free_port, request
from tests.support.gateway import make_settings, running
from tests.support.waiting import wait_for
from unifyport.cli.main import main
from unifyport.db.database import Database
from unifyport.db.models import Account, Event
from unifyport_telegram.sandbox.testing import API_HASH, API_ID, RunningSandbox

from .conftest import telegram_toml
from .sessions import telethon_login


def declared(key: str, session_env: str | None = None, *, online: bool = True,
             session: str | None = None, mode: str = "session") -> str:
    value = f'{{env = "{session_env}"}}' if session_env else json.dumps(session)
    return f"""
[[accounts]]
key = "{key}"
provider = "telegram"
auth_mode = "{mode}"
name = "{key.title()}"
provider_data = {{api_id = {API_ID}, api_hash = {{env = "TG_API_HASH"}}}}
params = {{session_url = {value}}}
online = {"true" if online else "false"}
"""


def config(tmp_path: Path, sb: RunningSandbox, backend: str, database_url: str,
           accounts: str, extra: str = "") -> Path:
    import_dir = tmp_path / "imports"
    import_dir.mkdir(exist_ok=True)
    path = tmp_path / "unifyport.toml"
    path.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
                    f'database_url = "{database_url}"\n{extra}'
                    f"{telegram_toml(sb, backend, import_dir)}{accounts}", encoding="utf-8")
    return path


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def cli(*argv: str) -> tuple[int, list[dict[str, Any]], str]:
    """``unifyport …`` in a thread (the sandbox serves on this loop meanwhile): exit code,
    the JSON lines printed (or the one JSON document), stderr."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(argv))

    code = await anyio.to_thread.run_sync(call)
    text = out.getvalue()
    if text.startswith("{\n"):
        return code, [json.loads(text)], err.getvalue()
    return code, [json.loads(line) for line in text.splitlines()], err.getvalue()


async def keyed(database_url: str) -> dict[str, Account]:
    db = Database(database_url)
    try:
        async with db.read() as s:
            rows = (await s.scalars(select(Account).where(Account.key.is_not(None)))).all()
    finally:
        await db.dispose()
    return {a.key: a for a in rows if a.key}


async def get(port: int, path: str, key_file: Path) -> tuple[int, Any]:
    """GET on the served API; (0, {}) until it accepts connections."""
    try:
        return await anyio.to_thread.run_sync(
            request, port, "GET", path, key_file.read_text().strip())
    except OSError:
        return 0, {}


@pytest.fixture
def env(sb: RunningSandbox) -> Iterator[None]:
    with environ(TG_API_HASH=API_HASH):
        yield


async def test_declared_session_from_env_is_online_after_serve(
        tmp_path: Path, sb: RunningSandbox, backend: str, database_url: str) -> None:
    user = await sb.control.create_user("+15550007001", "Decla")
    friend = await sb.control.create_user("+15550007002", "Fred")
    session = await telethon_login(sb, "+15550007001")
    path = config(tmp_path, sb, backend, database_url, declared("alice", "ALICE_SESSION"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    env.update(ALICE_SESSION=session, TG_API_HASH=API_HASH)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "unifyport.cli.main", "--config", str(path), "serve", "--port",
        str(port), cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        key_file = tmp_path / "data" / "admin-api-key"
        await wait_for(lambda: asyncio.sleep(0, key_file.exists()), "the admin key", 600)

        async def running_account() -> dict[str, Any] | None:
            assert proc.returncode is None, "serve ended"
            status, body = await get(port, "/v1/accounts", key_file)
            found = [a for a in body.get("data", []) if a["key"] == "alice"] \
                if status == 200 else []
            return found[0] if found and found[0]["runtime"]["status"] == "running" else None

        account = await wait_for(running_account, "the declared account running", 600)
        assert account["status"] == "authorized"
        assert account["name"] == "Alice"
        assert account["identity"]["id"] == str(user["id"])
        assert "session_url" not in account["params"]
        await sb.control.push_message(user["id"], friend["id"], "to a declared account")

        async def got() -> bool:
            status, body = await get(port, f"/v1/events?account_id={account['id']}"
                                     "&type=message.received", key_file)
            return status == 200 and any(e["data"]["message"]["text"] == "to a declared account"
                                         for e in body["data"])

        await wait_for(got, "the message received by the declared account", 400)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0, err
    assert session.encode() not in err


@pytest.mark.parametrize("backend", ["telethon"])
async def test_apply_dry_run_then_apply_then_prune(
        tmp_path: Path, sb: RunningSandbox, backend: str, database_url: str, env: None) -> None:
    await sb.control.create_user("+15550007011", "One")
    await sb.control.create_user("+15550007012", "Two")
    one = await telethon_login(sb, "+15550007011")
    two = await telethon_login(sb, "+15550007012")
    both = declared("one", session=one) + declared("two", session=two, online=False)
    path = config(tmp_path, sb, backend, database_url, both)

    code, lines, _ = await cli("--config", str(path), "accounts", "apply", "--dry-run")
    assert code == 0
    assert [(x["key"], x["actions"], x["dry_run"]) for x in lines] == [
        ("one", ["create", "import", "start"], True), ("two", ["create", "import"], True)]
    assert one not in json.dumps(lines)
    assert "status" not in lines[0] and "account_id" not in lines[0], "nothing stored yet"
    assert not await keyed(database_url), "a dry run changes nothing"

    code, lines, _ = await cli("--config", str(path), "accounts", "apply")
    assert code == 0
    assert [(x["key"], x["actions"], x["status"]) for x in lines] == [
        ("one", ["create", "import", "start"], "authorized"),
        ("two", ["create", "import"], "authorized")]
    stored = await keyed(database_url)
    assert stored["one"].runtime_desired and not stored["two"].runtime_desired
    code, lines, _ = await cli("--config", str(path), "accounts", "apply")
    assert [x["actions"] for x in lines] == [[], []], "a second apply has nothing to do"

    renamed = both.replace('name = "Two"', 'name = "Deux"').replace(
        "online = false", "online = true")
    path = config(tmp_path, sb, backend, database_url, renamed)
    code, lines, _ = await cli("--config", str(path), "accounts", "apply")
    assert [x["actions"] for x in lines] == [[], ["update", "start"]]
    assert (await keyed(database_url))["two"].name == "Deux"

    path = config(tmp_path, sb, backend, database_url, declared("one", session=one))
    code, lines, _ = await cli("--config", str(path), "accounts", "apply")
    assert lines[1]["key"] == "two" and lines[1]["actions"] == []
    assert "prune is off" in lines[1]["note"]
    assert set(await keyed(database_url)) == {"one", "two"}

    path = config(tmp_path, sb, backend, database_url, declared("one", session=one),
                  "[declared_accounts]\nprune = true\n")
    code, lines, _ = await cli("--config", str(path), "accounts", "apply", "--dry-run")
    assert lines[1]["actions"] == ["delete"]
    assert set(await keyed(database_url)) == {"one", "two"}
    code, lines, _ = await cli("--config", str(path), "accounts", "apply")
    assert code == 0 and lines[1]["actions"] == ["delete"]
    assert set(await keyed(database_url)) == {"one"}


@pytest.mark.parametrize("backend", ["telethon"])
async def test_refused_credential_does_not_stop_the_others(
        tmp_path: Path, sb: RunningSandbox, backend: str, database_url: str, env: None) -> None:
    await sb.control.create_user("+15550007021", "Good")
    good = await telethon_login(sb, "+15550007021")
    gone = await sb.control.create_user("+15550007022", "Gone")
    revoked = await telethon_login(sb, "+15550007022")
    assert await sb.control.revoke_sessions(gone["id"]) >= 1
    accounts = declared("gone", session=revoked) + declared("good", session=good)
    settings = make_settings(tmp_path / "data", telegram_toml(sb, backend, tmp_path) + accounts,
                             env={"TG_API_HASH": API_HASH}, database_url=database_url)
    async with running(settings) as api:  # reconciled at start-up, as serve does

        async def by_key() -> dict[str, Any] | None:
            _, body = await api.get("/v1/accounts")
            found = {a["key"]: a for a in body["data"]}
            done = found.get("good", {}).get("runtime", {}).get("status") == "running" and \
                found.get("gone", {}).get("last_error")
            return found if done else None

        found = await wait_for(by_key, "good running and gone refused", 600)
        assert found["gone"]["last_error"]["code"] == "invalid_session"
        assert found["gone"]["status"] != "authorized"
        assert found["gone"]["runtime"]["status"] == "stopped"
        async with api.gateway.db.read() as s:
            types = (await s.scalars(select(Event.type).where(
                Event.account_id == found["gone"]["id"]))).all()
        assert "account.created" in types and "account.authorized" not in types


async def test_config_check_validates_declared_accounts(
        tmp_path: Path, sb: RunningSandbox, database_url: str, env: None) -> None:
    good = declared("ok", session="x" * 10)
    path = config(tmp_path, sb, "telethon", database_url, good)
    code, lines, err = await cli("--config", str(path), "config", "check")
    assert code == 0, err
    [shown] = lines[0]["accounts"]
    assert shown["provider_data"]["api_hash"] == "*** (env:TG_API_HASH)"
    assert shown["params"]["session_url"] == "*** (literal)"
    cases = [
        (good.replace('auth_mode = "session"', 'auth_mode = "sms"'), "accounts[ok].auth_mode"),
        (good.replace(f"api_id = {API_ID}", 'api_id = "many"'),
         "accounts[ok].provider_data.api_id"),
        (good.replace('provider = "telegram"', 'provider = "fax"'), "accounts[ok].provider"),
        (good + good, "accounts[1].key"),
        (good.replace("online = true", 'online = "yes"'), "accounts[0].online"),
        (good.replace('name = "Ok"', 'colour = "red"'), "accounts[0].colour"),
    ]
    for text, key in cases:
        path = config(tmp_path, sb, "telethon", database_url, text)
        code, _, err = await cli("--config", str(path), "config", "check")
        assert code == 2 and key in err, (key, err)
