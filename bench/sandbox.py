"""Benchmark of the Telegram sandbox (for the record, not a timed test).

Prints: handshake+login time per client library; RSS of one sandbox process holding 500
connected idle logged-in clients; pushed messages per second to 50 connected clients until
their handlers have seen them (and the sandbox's own CPU time for that work).

    PYTHONPATH=plugins:core .venv/bin/python bench/sandbox.py [--idle 500] [--push 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from unifyport_telegram.sandbox import testing

LOGIN_SAMPLES = 5


class Remote:
    """A sandbox running as a separate process (so its RSS and CPU can be measured)."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.proc, self.info = proc, info
        self.control = testing.ControlClient(info["control"])
        self.public_key_pem = Path(info["public_key_file"]).read_bytes()
        self.dc_addresses = {
            int(k): (v.rsplit(":", 1)[0], int(v.rsplit(":", 1)[1])) for k, v in info["dcs"].items()
        }
        self.main_dc = int(info["dc_id"])

    def dc_address(self, dc_id: int | None = None) -> tuple[str, int]:
        return self.dc_addresses[dc_id or self.main_dc]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_remote(state_dir: str) -> Remote:
    env = dict(os.environ)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "unifyport_telegram.sandbox", "--state-dir", state_dir,
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return Remote(proc, json.loads(line))


async def telethon_login(sb: Remote, phone: str, **kwargs: Any) -> Any:
    client = testing.telethon_client(sb, **kwargs)  # type: ignore[arg-type]
    await client.connect()
    sent = await client.send_code_request(phone)
    code = await sb.control.get_code(phone)
    await client.sign_in(phone, code, phone_code_hash=sent.phone_code_hash)
    return client


async def kurigram_login(sb: Remote, phone: str) -> Any:
    client = testing.kurigram_client(sb)  # type: ignore[arg-type]
    await client.connect()
    sent = await client.send_code(phone)
    code = await sb.control.get_code(phone)
    await client.sign_in(phone, sent.phone_code_hash, code)
    return client


async def bench_login(sb: Remote) -> None:
    import pyrogram  # noqa: F401 - import cost is not login time
    import telethon  # noqa: F401

    for n, (name, fn) in enumerate((("telethon", telethon_login), ("kurigram", kurigram_login))):
        times = []
        for i in range(LOGIN_SAMPLES):
            phone = f"+1777{n}{i:05d}"
            await sb.control.create_user(phone, f"{name}{i}")
            t0 = time.perf_counter()
            client = await fn(sb, phone)
            times.append(time.perf_counter() - t0)
            await client.disconnect()
        print(
            f"handshake+code login, {name}: median {statistics.median(times) * 1000:.0f} ms, "
            f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
            f"({LOGIN_SAMPLES} fresh clients)"
        )


async def bench_idle_and_push(sb: Remote, idle: int, receivers: int, pushes: int) -> None:
    rss_before = sb.rss_mb()
    sender = await sb.control.create_user("+17999999999", "Sender")
    users: list[dict[str, Any]] = []
    clients: list[Any] = []
    cpu_login = sb.cpu_seconds()
    t0 = time.perf_counter()
    for start in range(0, idle, 50):
        batch = []
        for i in range(start, min(idle, start + 50)):
            users.append(await sb.control.create_user(f"+1888{i:07d}", f"Idle{i}"))
            batch.append(telethon_login(sb, users[-1]["phone"], receive_updates=i < receivers))
        clients.extend(await asyncio.gather(*batch))
    login_s = time.perf_counter() - t0
    cpu_login = sb.cpu_seconds() - cpu_login
    await asyncio.sleep(2)
    rss_idle = sb.rss_mb()
    print(
        f"{idle} idle logged-in clients (Telethon, one connection each): sandbox RSS "
        f"{rss_idle:.0f} MB (empty sandbox {rss_before:.0f} MB, "
        f"{(rss_idle - rss_before) * 1024 / idle:.0f} KB per client); "
        f"logging them all in took {login_s:.1f} s (sandbox CPU {cpu_login:.1f} s, the rest is "
        f"the clients' own DH work in this process)"
    )

    from telethon import events

    seen = 0
    done = asyncio.Event()

    async def on_message(_event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen >= pushes:
            done.set()

    for client in clients[:receivers]:
        client.add_event_handler(on_message, events.NewMessage(incoming=True))
    items = [
        {"to_user_id": users[i % receivers]["id"], "from_user_id": sender["id"], "text": f"m{i}"}
        for i in range(pushes)
    ]
    cpu0 = sb.cpu_seconds()
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        for start in range(0, pushes, 500):
            async with http.post(sb.info["control"] + "/messages", json=items[start : start + 500]):
                pass
    posted = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - t0
    cpu = sb.cpu_seconds() - cpu0
    print(
        f"pushed {pushes} messages to {receivers} connected clients: all seen by the handlers "
        f"after {elapsed:.2f} s = {pushes / elapsed:.0f} msg/s end to end "
        f"(control API accepted them in {posted:.2f} s; sandbox CPU {cpu:.2f} s = "
        f"{pushes / max(cpu, 1e-9):.0f} msg per sandbox CPU-second)"
    )
    await asyncio.gather(*(c.disconnect() for c in clients))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--receivers", type=int, default=50)
    parser.add_argument("--push", type=int, default=4000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        sb = await start_remote(tmp)
        try:
            await bench_login(sb)
            await bench_idle_and_push(sb, args.idle, args.receivers, args.push)
        finally:
            await sb.control.close()
            sb.proc.terminate()
            await sb.proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
