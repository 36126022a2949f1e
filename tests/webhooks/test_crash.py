"""A server killed with SIGKILL mid-delivery loses nothing: after a restart the receiver has
every event id (at least once; duplicates are counted and printed)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.support.gateway import make_settings
from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import config_toml, endpoint_toml, new_secret, verify
from unifyport.accounts.service import emit
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.db.repositories import EventRepository
from unifyport.delivery.queue import DeliveryQueue
from unifyport.events.sinks import Target

EVENTS = 1000
UNIFYPORT = str(Path(sys.executable).with_name("unifyport"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _pending_events(database_url: str) -> set[str]:
    """Migrate the server's database, declare the endpoint and write the events."""
    db = Database(database_url)
    try:
        await upgrade(db)
        await DeliveryQueue(db, "webhook").sync_targets([Target("main", ("*",))])
        async with db.write() as s:
            for i in range(EVENTS):
                emit(s, "message.received", f"acc_{i % 7}", {"n": i})
        async with db.read() as s:
            return {e.id for e in await EventRepository(s).page(EVENTS + 10, None)}
    finally:
        await db.dispose()


def _serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [UNIFYPORT, "serve", "--config", str(config), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ},
        )


async def _until(check: object, limit: float, what: str, server: subprocess.Popen[bytes],
                 log: Path) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        if server.poll() is not None:
            raise AssertionError(f"server exited ({server.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_sigkill_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    receiver = await Receiver().start()
    receiver.default = Reply(200, delay=0.02)  # slow enough to be killed half-way
    secret = new_secret()
    toml = config_toml(endpoint_toml("main", receiver.url, secret, timeout=2,
                                     max_concurrency=8),
                       schedule=[0, 1, 1, 1, 1], jitter=0.0)
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, toml)
    assert settings.config_path is not None
    data_dir.mkdir(parents=True)
    expected = await _pending_events(settings.storage.effective_database_url)
    assert len(expected) == EVENTS
    port, log = _free_port(), tmp_path / "server.log"
    server = _serve(settings.config_path, port, log)
    try:
        await _until(lambda: len(receiver.received) >= 200, 60, "deliveries to start", server,
                     log)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        at_kill = len({r.id for r in receiver.received})
        assert at_kill < EVENTS, "the server finished before it could be killed"
        server = _serve(settings.config_path, port, log)
        await _until(lambda: {r.id for r in receiver.received} >= expected, 90,
                     "every event after the restart", server, log)
        # Deliveries in flight at the kill are sent again once their lease runs out.
        db = Database(settings.storage.effective_database_url)
        try:
            deadline = time.monotonic() + 60
            while (state := (await DeliveryQueue(db, "webhook").targets())[0]).pending:
                assert time.monotonic() < deadline, "deliveries still pending"
                await asyncio.sleep(0.2)
        finally:
            await db.dispose()
        assert (state.succeeded, state.failed) == (EVENTS, 0)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
        await receiver.stop()
    ids = Counter(r.id for r in receiver.received)
    duplicates = sum(n - 1 for n in ids.values())
    print(f"\ncrash test: {EVENTS} events, {at_kill} delivered before SIGKILL, "
          f"{len(receiver.received)} requests, {duplicates} duplicate(s)")
    assert set(ids) == expected
    for rec in receiver.received[:: max(1, len(receiver.received) // 50)]:
        verify(secret, rec)
