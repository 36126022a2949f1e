"""Hostile session references: parsed off the event loop, bounded in time, refused with a 4xx
(issue #19 items 1 and 3)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.gateway import Api
from unifyport.runtime.supervisor import RuntimeSupervisor
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import authorized, create, received, runtime_status, step, wait_running

# A ``sessions`` *view* whose every column costs a recursive query of ~10^8 steps (tens of
# seconds); only a reader that honours views pays for it.
EXPENSIVE = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
             "WHERE n < 100000000) SELECT count(*) FROM c")


def hostile_session_file(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE VIEW sessions AS SELECT ({EXPENSIVE}) AS dc_id, "
                   "zeroblob(256) AS auth_key, 0 AS takeout_id")
    return path


async def _import(api: Api, session_url: str) -> tuple[int, dict]:
    acc = await create(api, "session")
    status, body = await step(api, acc, "import", {"params": {"session_url": session_url}})
    return status, body


@pytest.mark.loop_watchdog
@pytest.mark.parametrize("backend", ["telethon"], indirect=True)
async def test_view_over_an_expensive_query_neither_stalls_nor_passes(
        api: Api, import_dir: Path) -> None:
    path = hostile_session_file(import_dir / "hostile.session")
    started = time.monotonic()
    task = asyncio.create_task(_import(api, path.as_uri()))
    health: list[float] = []
    while not task.done():
        t0 = time.monotonic()
        status, _ = await api.get("/health")
        health.append(time.monotonic() - t0)
        assert status == 200
        await asyncio.sleep(0.02)
        assert time.monotonic() - started < 10, "the import did not answer in time"
    status, body = await task
    assert (status, body["error"]["code"]) == (422, "invalid_session"), body
    assert max(health) < 0.5, f"/health took {max(health):.2f} s during the import"


@pytest.mark.parametrize("backend", ["telethon"], indirect=True)
@pytest.mark.parametrize("name", ["nul\x00byte.session", "n" * 300 + ".session"])
async def test_unusable_file_names_are_4xx(api: Api, import_dir: Path, name: str) -> None:
    status, body = await _import(api, (import_dir / "x").as_uri()[:-1] + name.replace(
        "\x00", "%00"))
    assert status in (400, 422) and body["error"]["code"] in (
        "url_not_allowed", "download_failed", "invalid_session"), body


@pytest.mark.parametrize("backend", ["telethon"], indirect=True)
async def test_symlink_loop_is_4xx(api: Api, import_dir: Path) -> None:
    (import_dir / "a.session").symlink_to(import_dir / "b.session")
    (import_dir / "b.session").symlink_to(import_dir / "a.session")
    status, body = await _import(api, (import_dir / "a.session").as_uri())
    assert status == 400 and body["error"]["code"] == "download_failed", body


async def test_start_stop_race_on_a_real_client(api: Api, sb: RunningSandbox) -> None:
    """Starts and stops a few milliseconds apart with the real client library: every call
    answers within seconds, the stored status is what runs, the next request wins, and a
    message arrives while running (issue #19 item 2)."""
    acc, user = await authorized(api, sb, "+15550019001", "Rae")
    friend = await sb.control.create_user("+15550019002", "Ned")
    supervisor = api.gateway.runtime
    assert isinstance(supervisor, RuntimeSupervisor)
    for last in ("stop", "start", "stop", "start"):
        first = "start" if last == "stop" else "stop"
        started = time.monotonic()
        answers = []
        for op in (first, last) * 2:  # each a few milliseconds after the previous one
            answers.append(asyncio.create_task(api.post(f"/v1/accounts/{acc}/runtime/{op}")))
            await asyncio.sleep(0.003)
        for status, _ in await asyncio.wait_for(asyncio.gather(*answers), 15):
            assert status == 200
        assert time.monotonic() - started < 15
        # whichever reached the supervisor last won; the stored status says which
        if await runtime_status(api, acc) != "stopped":
            await wait_running(api, acc)
        running = await runtime_status(api, acc) == "running"
        assert (acc in supervisor.clients) == running  # a client attached: it runs
        # and the next request wins
        status, body = await api.post(f"/v1/accounts/{acc}/runtime/{last}")
        assert status == 200, body
        if last == "start":
            await wait_running(api, acc)
        assert await runtime_status(api, acc) == ("running" if last == "start" else "stopped")
        assert (acc in supervisor.clients) == (last == "start")
    await sb.control.push_message(user["id"], friend["id"], "after the race")
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "after the race"
