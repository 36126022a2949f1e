"""Session import: the four formats (Telethon or Pyrogram, string or SQLite file) from a string,
a file:// path and an http:// URL, converted to the account's backend; and the refusals."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.gateway import Api
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import create, events, online, received, step
from .sessions import kurigram_login, telethon_login


async def _import(api: Api, session_url: str) -> tuple[str, int, dict]:
    acc = await create(api, "session")
    status, body = await step(api, acc, "import", {"params": {"session_url": session_url}})
    return acc, status, body


@pytest.fixture
async def http_files(tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving a directory."""
    root = tmp_path / "www"
    root.mkdir()
    app = web.Application()
    app.router.add_static("/", root)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield root, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_telethon_string(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550005001", "Sol", username="sol")
    string = await telethon_login(sb, "+15550005001")
    acc, status, body = await _import(api, string)
    assert (status, body["status"]) == (200, "authorized"), body
    assert body["account"]["identity"]["id"] == str(user["id"])
    assert body["account"]["identity"]["username"] == "sol"
    assert (await events(api, acc, "account.authorized"))[0]["data"]["identity"]["id"] == str(
        user["id"])


async def test_pyrogram_string_then_online(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550005002", "Pia")
    friend = await sb.control.create_user("+15550005003", "Ray")
    string = await kurigram_login(sb, "+15550005002")
    acc, status, body = await _import(api, string)
    assert (status, body["status"]) == (200, "authorized"), body
    await online(api, acc)
    await sb.control.push_message(user["id"], friend["id"], "via imported session")
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "via imported session"


async def test_telethon_sqlite_file(api: Api, sb: RunningSandbox, import_dir: Path) -> None:
    user = await sb.control.create_user("+15550005004", "Tim")
    path = import_dir / "telethon.session"
    await telethon_login(sb, "+15550005004", path)
    assert "takeout_id" in {r[1] for r in sqlite3.connect(path).execute(
        "PRAGMA table_info(sessions)")}
    _, status, body = await _import(api, path.as_uri())
    assert (status, body["status"]) == (200, "authorized"), body
    assert body["account"]["identity"]["id"] == str(user["id"])


async def test_pyrogram_sqlite_file_over_http(api: Api, sb: RunningSandbox,
                                              http_files: tuple[Path, str]) -> None:
    user = await sb.control.create_user("+15550005005", "Val")
    root, base = http_files
    await kurigram_login(sb, "+15550005005", root)
    assert "user_id" in {r[1] for r in sqlite3.connect(root / "kurigram.session").execute(
        "PRAGMA table_info(sessions)")}
    _, status, body = await _import(api, f"{base}/kurigram.session")
    assert (status, body["status"]) == (200, "authorized"), body
    assert body["account"]["identity"]["id"] == str(user["id"])


async def test_malformed_string(api: Api) -> None:
    _, status, body = await _import(api, "1" + "A" * 40)
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body
    assert body["error"]["status"] == "pending"


async def test_non_sqlite_file(api: Api, import_dir: Path) -> None:
    path = import_dir / "random.session"
    path.write_bytes(bytes(range(256)) * 8)
    _, status, body = await _import(api, path.as_uri())
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body


async def test_sqlite_without_sessions_table(api: Api, import_dir: Path) -> None:
    path = import_dir / "other.session"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (x TEXT)")
    _, status, body = await _import(api, path.as_uri())
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body


async def test_oversized_file(api: Api, import_dir: Path) -> None:
    path = import_dir / "huge.session"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * (5 << 20))
    _, status, body = await _import(api, path.as_uri())
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body
    assert "larger" in body["error"]["message"]


async def test_file_outside_import_dir(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.session"
    path.write_text("x")
    _, status, body = await _import(api, path.as_uri())
    assert (status, body["error"]["code"]) == (400, "url_not_allowed"), body


async def test_revoked_session(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550005006", "Wes")
    string = await telethon_login(sb, "+15550005006")
    await sb.control.revoke_sessions(user["id"])
    _, status, body = await _import(api, string)
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body
    assert "session_revoked" in body["error"]["message"]


async def test_unknown_key(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550005007", "Xan")
    string = await kurigram_login(sb, "+15550005007")
    await sb.control.forget_keys(user["id"])
    _, status, body = await _import(api, string)
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body
