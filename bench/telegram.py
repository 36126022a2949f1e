"""Benchmark of the Telegram plugin through the gateway (for the record, not a timed test).

For each backend: accounts brought online per second (``runtime/start`` → ``running``);
steady-state RSS per idle online account (``--idle`` accounts, default 200); inbound message →
``message.received`` stored latency (p50/p99) at ``--rate`` messages/s (default 500) spread
over ``--busy`` accounts (default 50) for ``--seconds`` seconds.

The sandbox runs as a separate process, so the RSS measured is the gateway's own.

    .venv/bin/python bench/telegram.py [--backend telethon]
        [--idle 200] [--busy 50] [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's tests package

from online import (  # bench/online.py, beside this script
    CommitClock,
    bring_online,
    last_event,
    report_latency,
    stored_received,
    until_stored,
)

from tests.support.gateway import Api, make_settings, running
from unifyport_telegram.sandbox.testing import API_HASH, API_ID, ControlClient

LOGIN_CONCURRENCY = 20


async def start_sandbox(state_dir: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "unifyport_telegram.sandbox", "--state-dir", state_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))


def toml(info: dict[str, Any], backend: str) -> str:
    dcs = "\n".join(f'"{k}" = "{v}"' for k, v in info["dcs"].items())
    return f"""
[plugins.telegram]
backend = "{backend}"
timeout = 30
[plugins.telegram.server]
dc_id = {info["dc_id"]}
address = "{info["mtproto"]}"
public_key_file = "{info["public_key_file"]}"
[plugins.telegram.server.dcs]
{dcs}
"""


async def login(api: Api, control: ControlClient, phone: str, sem: asyncio.Semaphore
                ) -> tuple[str, int]:
    async with sem:
        user = await control.create_user(phone, "Bench")
        status, body = await api.post("/v1/accounts", {
            "provider": "telegram", "auth_mode": "code",
            "provider_data": {"api_id": API_ID, "api_hash": API_HASH, "phone": phone}})
        assert status == 201, body
        acc = body["id"]
        status, body = await api.post(f"/v1/accounts/{acc}/auth/session/start", {})
        assert status == 200, body
        code = await control.get_code(phone)
        status, body = await api.post(f"/v1/accounts/{acc}/auth/session/code", {"code": code})
        assert status == 200 and body["status"] == "authorized", body
        return acc, int(user["id"])


async def bench_backend(backend: str, args: argparse.Namespace, root: Path) -> None:
    proc, info = await start_sandbox(str(root / f"sandbox-{backend}"))
    control = ControlClient(info["control"])
    settings = make_settings(root / f"data-{backend}", toml(info, backend))
    try:
        async with running(settings) as api:
            sem = asyncio.Semaphore(LOGIN_CONCURRENCY)
            n = max(args.idle, args.busy)
            base = 17000000000 + (0 if backend == "telethon" else 100000)
            t0 = time.perf_counter()
            logged = await asyncio.gather(*(login(api, control, f"+{base + i}", sem)
                                            for i in range(n)))
            print(f"[{backend}] {n} code logins through the API: "
                  f"{n / (time.perf_counter() - t0):.1f}/s")
            accounts = [a for a, _ in logged]
            await bring_online(api, accounts[:args.idle], backend)
            await latency(api, control, logged[:args.busy], args, backend)
    finally:
        await control.close()
        proc.terminate()
        await proc.wait()


async def latency(api: Api, control: ControlClient, busy: list[tuple[str, int]],
                  args: argparse.Namespace, backend: str) -> float:
    """Push ``args.rate`` messages a second for ``args.seconds`` to the ``busy`` accounts and
    print the latency until each is stored (by its commit; several runs may follow).

    The pushing runs in its own process (``bench/pusher.py``); returns the CPU seconds this
    process spent from the first push until all were stored (the final read of the stored
    events, the bench's own, is not counted)."""
    sender = await control.create_user(
        f"+1799{9 if backend.startswith('telethon') else 8}{int(args.rate) % 10**7:07d}",
        "Sender")
    after = await last_event(api)
    total = int(args.rate * args.seconds)
    clock = CommitClock()
    cpu = own_cpu_seconds()
    pusher = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("pusher.py")), json.dumps({
            "control": control.base_url, "to": [uid for _, uid in busy], "from": sender["id"],
            "rate": args.rate, "seconds": args.seconds}), stdout=asyncio.subprocess.PIPE)
    out, _ = await pusher.communicate()
    push_rate = float(out.decode().strip() or 0)
    await until_stored(api, total, after=after)
    cpu = own_cpu_seconds() - cpu
    rows = await stored_received(api, total, within=0, after=after)
    clock.close()
    lat = [clock.stored_at(r.created_at) - float(r.data["message"]["text"][2:]) for r in rows
           if r.data["message"]["text"].startswith("t=")]
    report_latency(backend, lat, total, push_rate, len(busy))
    return cpu


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["telethon", "pyrogram", "both"], default="both")
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--busy", type=int, default=50)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    backends = ["telethon", "pyrogram"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="bench-telegram-") as tmp:
        os.chdir(tmp)  # Kurigram's working-directory files stay out of the repository
        for backend in backends:
            await bench_backend(backend, args, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
