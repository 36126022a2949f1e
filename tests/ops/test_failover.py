"""Failover you can measure: three ``serve`` processes (started from the systemd unit's
``ExecStart`` and ``Environment`` lines) on one PostgreSQL run 100 online Telegram accounts
against the sandbox. One is SIGKILLed: its accounts run on the others within 30 s; messages
sent to them meanwhile arrive exactly once as events; sends meanwhile succeed or answer a
retryable 503 with ``Retry-After``; no auth key is ever used on two connections at once (the
sandbox records it). When the process comes back, the accounts are shared again: no process
holds more than 1.5 times its share."""

from __future__ import annotations

import asyncio
import base64
import collections
import ipaddress
import os
import shlex
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.core.test_serve import free_port
from tests.support.waiting import wait_for
from tests.telegram.conftest import telegram_toml
from unifyport_telegram.sandbox.testing import API_HASH, API_ID, RunningSandbox, running_sandbox

UNIT = Path(__file__).parents[2] / "deploy" / "systemd" / "unifyport@.service"
PROCESSES = 3
ACCOUNTS = 100
FAILOVER_LIMIT = 30.0


def unit_command(config: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """The unit's command line and environment, with this test's paths and port."""
    lines = UNIT.read_text().splitlines()
    exec_start = next(line.split("=", 1)[1] for line in lines if line.startswith("ExecStart="))
    argv = [arg.replace("%i", str(port)) for arg in shlex.split(exec_start)]
    assert argv[0] == "/opt/unifyport/venv/bin/unifyport"
    argv[0] = str(Path(sys.executable).parent / "unifyport")
    argv[argv.index("/etc/unifyport/unifyport.toml")] = str(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    for line in lines:
        if line.startswith("Environment="):
            name, value = line.split("=", 1)[1].split("=", 1)
            env[name] = value
    return argv, env


class Cluster:
    def __init__(self, tmp: Path, config: Path) -> None:
        self.tmp, self.config = tmp, config
        self.ports = [free_port() for _ in range(PROCESSES)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * PROCESSES
        self.key = ""

    def start(self, i: int) -> None:
        argv, env = unit_command(self.config, self.ports[i])
        log = (self.tmp / f"serve-{i}.log").open("ab")
        self.procs[i] = subprocess.Popen(argv, env=env, cwd=self.tmp, stdout=log, stderr=log)

    async def ready(self, i: int, http: aiohttp.ClientSession) -> None:
        for _ in range(600):
            proc = self.procs[i]
            assert proc is not None and proc.poll() is None, self.log(i)
            try:
                async with http.get(f"{self.url(i)}/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"process {i} never became ready: {self.log(i)}")

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def log(self, i: int) -> str:
        return (self.tmp / f"serve-{i}.log").read_text()[-3000:]

    def pid(self, i: int) -> int:
        proc = self.procs[i]
        assert proc is not None
        return proc.pid

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def session_string(sb: RunningSandbox, user_id: int) -> str:
    """A Telethon string session for a new auth key bound to ``user_id`` (made in the
    sandbox's store directly: 100 key exchanges would only slow the test down)."""
    key = os.urandom(256)
    record = sb.sandbox.store.add_key(key, sb.main_dc, int.from_bytes(os.urandom(7), "little"))
    sb.sandbox.bind_key(record, user_id)
    host, port = sb.dc_address()
    packed = struct.pack(">B4sH256s", sb.main_dc, ipaddress.ip_address(host).packed, port, key)
    return "1" + base64.urlsafe_b64encode(packed).decode()


def config_toml(tmp: Path, sb: RunningSandbox, database_url: str) -> str:
    return f"""
[storage]
data_dir = "{tmp / 'data'}"
database_url = "{database_url}"
{telegram_toml(sb, "telethon", tmp, probe_interval=60)}"""


async def owners(db: AsyncEngine) -> dict[str, tuple[str | None, str, int | None]]:
    """account id -> (owner worker, runtime status, owner's pid)."""
    async with db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT a.id, a.runtime_owner, a.runtime_status, w.pid FROM accounts a "
            "LEFT JOIN runtime_workers w ON w.id = a.runtime_owner"))).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def received_texts(db: AsyncEngine) -> collections.Counter[str]:
    async with db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT data FROM events WHERE type = 'message.received'"))).scalars().all()
    return collections.Counter(str(d["message"]["text"]) for d in rows)


async def test_sigkill_one_of_three(tmp_path: Path, postgres_url: str) -> None:
    async with running_sandbox(tmp_path / "sandbox") as sb, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60)) as http:
        config = tmp_path / "unifyport.toml"
        config.write_text(config_toml(tmp_path, sb, postgres_url))
        cluster = Cluster(tmp_path, config)
        db = create_async_engine(postgres_url)
        try:
            await _scenario(sb, http, cluster, db)
        finally:
            cluster.stop_all()
            await db.dispose()


async def _scenario(sb: RunningSandbox, http: aiohttp.ClientSession, cluster: Cluster,
                    db: AsyncEngine) -> None:
    for i in range(PROCESSES):  # concurrent first starts agree on one master key
        cluster.start(i)
    for i in range(PROCESSES):
        await cluster.ready(i, http)
    cluster.key = (cluster.config.parent / "data" / "admin-api-key").read_text().strip()
    headers = {"Authorization": f"Bearer {cluster.key}"}

    async def call(i: int, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        async with http.request(method, cluster.url(i) + path, json=body,
                                headers=headers) as r:
            return r.status, await r.json(), r.headers

    peer = int((await sb.control.create_user("+15559990000", "Peer"))["id"])
    users: dict[str, int] = {}
    limit = asyncio.Semaphore(8)

    async def online(n: int) -> None:
        async with limit:
            uid = int((await sb.control.create_user(f"+1555100{n:04d}", f"U{n}"))["id"])
            status, acc, _ = await call(n % PROCESSES, "POST", "/v1/accounts", {
                "provider": "telegram", "auth_mode": "session",
                "provider_data": {"api_id": API_ID, "api_hash": API_HASH}})
            assert status == 201, acc
            status, body, _ = await call(n % PROCESSES, "POST",
                                         f"/v1/accounts/{acc['id']}/auth/session/import",
                                         {"params": {"session_url": session_string(sb, uid)}})
            assert status == 200 and body["status"] == "authorized", body
            status, body, _ = await call(n % PROCESSES, "POST",
                                         f"/v1/accounts/{acc['id']}/runtime/start")
            assert status == 200, body
            users[acc["id"]] = uid

    await asyncio.gather(*(online(n) for n in range(ACCOUNTS)))

    async def all_running(pids: set[int]) -> dict[str, tuple[str | None, str, int | None]]:
        state = await owners(db)
        if all(st == "running" and pid in pids for _, st, pid in state.values()):
            return state
        return {}

    pids = {cluster.pid(i) for i in range(PROCESSES)}
    state = await wait_for(lambda: all_running(pids), "100 accounts running", attempts=480,
                           delay=0.25)
    # one inbound message each before the kill, stored and their update state saved
    for acc, uid in users.items():
        await sb.control.push_message(uid, peer, f"before {acc}")
    await wait_for(lambda: _all_there(db, [f"before {a}" for a in users]),
                   "messages before the kill", attempts=240, delay=0.25)
    await asyncio.sleep(3)  # > the runtime's update-state save interval

    per_pid = collections.Counter(pid for _, _, pid in state.values())
    victim = max(range(PROCESSES), key=lambda i: per_pid[cluster.pid(i)])
    victim_pid = cluster.pid(victim)
    moved = [a for a, (_, _, pid) in state.items() if pid == victim_pid]
    survivors = [i for i in range(PROCESSES) if i != victim]
    os.kill(victim_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    proc = cluster.procs[victim]
    assert proc is not None
    proc.wait(10)

    for acc in moved:  # sent while nobody runs these accounts
        await sb.control.push_message(users[acc], peer, f"gap {acc}")
    answers: collections.Counter[str] = collections.Counter()
    made: set[str] = set()
    recovered_at = None
    survivor_pids = {cluster.pid(i) for i in survivors}
    n = 0
    while time.monotonic() - killed_at < FAILOVER_LIMIT + 15:
        acc = moved[n % len(moved)]
        status, body, hdrs = await call(survivors[n % 2], "POST", f"/v1/accounts/{acc}/messages",
                                        {"chat_id": peer, "text": f"send {n}"})
        n += 1
        if status == 201:
            answers["201"] += 1
            made.add(f"send {n - 1}")
        else:
            assert status == 503 and body["error"]["code"] == "runtime_unavailable", body
            assert int(hdrs["Retry-After"]) > 0
            answers["503 runtime_unavailable"] += 1
        if recovered_at is None and await all_running(survivor_pids):
            recovered_at = time.monotonic()
            break
        await asyncio.sleep(0.2)
    assert recovered_at is not None, "the killed process's accounts never ran elsewhere"
    failover = recovered_at - killed_at
    assert failover <= FAILOVER_LIMIT, failover
    await wait_for(lambda: _all_there(db, [f"gap {a}" for a in moved]),
                   "messages sent during the gap", attempts=240, delay=0.25)

    cluster.start(victim)  # it comes back: the accounts are shared out again
    await cluster.ready(victim, http)
    back_at = time.monotonic()
    pids = {cluster.pid(i) for i in range(PROCESSES)}

    async def balanced() -> collections.Counter[int]:
        state = await owners(db)
        counts = collections.Counter(pid for _, st, pid in state.values() if st == "running")
        ok = sum(counts.values()) == ACCOUNTS and set(counts) == pids and \
            max(counts.values()) <= 1.5 * ACCOUNTS / PROCESSES
        return counts if ok else collections.Counter()

    counts = await wait_for(balanced, "ownership rebalanced", attempts=240, delay=0.25)
    rebalance = time.monotonic() - back_at

    inbox = collections.Counter(m["text"] for m in await sb.control.messages(peer)
                                if m["text"].startswith("send ") and not m["out"])
    assert inbox == collections.Counter(made), "sends answered 201 arrive once, others never"

    texts = await received_texts(db)
    twice = {t: c for t, c in texts.items() if c > 1}
    assert not twice, f"delivered more than once: {twice}"
    overlaps = await sb.control.key_overlaps()
    assert overlaps == [], f"an auth key was used on two connections at once: {overlaps[:3]}"
    print(f"\nfailover: {len(moved)} accounts of the killed process running elsewhere "
          f"{failover:.1f} s after SIGKILL; sends during the gap: {dict(answers)}; "
          f"{len(moved)} messages sent during the gap, each stored once; rebalanced "
          f"{rebalance:.1f} s after the restart: {sorted(counts.values())}; "
          f"0 auth keys on two connections at once")


async def _all_there(db: AsyncEngine, wanted: list[str]) -> bool:
    texts = await received_texts(db)
    return all(texts[t] >= 1 for t in wanted)
