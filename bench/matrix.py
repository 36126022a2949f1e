"""Benchmark of the Matrix plugin through the gateway against a local Synapse (for the record,
not a timed test).

Accounts brought online per second (``runtime/start`` -> ``running``) and steady-state RSS
per idle online account (``--idle`` accounts, default 200: each holds a /sync long-poll);
inbound message -> ``message.received`` stored latency (p50/p99) at ``--rate`` messages/s
(default 200) spread over ``--busy`` accounts (default 20) for ``--seconds`` seconds, from the
homeserver's timestamp of each message to its stored event (Synapse's own time to accept a
send is not the gateway's). Synapse runs as a separate process, so the RSS measured is the
gateway's own.

    .venv/bin/python bench/matrix.py [--idle 200] [--busy 20] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's tests package

from online import (  # bench/online.py, beside this script
    CommitClock,
    bring_online,
    report_latency,
    stored_received,
)

from tests.matrix.synapse import Synapse
from tests.support.gateway import Api, make_settings, running

TOML = """
[security]
outbound_allow_cidrs = ["127.0.0.1/32"]
[plugins]
disabled = ["telegram", "webhook"]
[plugins.matrix]
sync_timeout = 30
"""
CONCURRENCY = 10


async def login(api: Api, hs: Synapse, user: dict[str, Any], sem: asyncio.Semaphore) -> str:
    async with sem:
        status, body = await api.post("/v1/accounts", {
            "provider": "matrix", "auth_mode": "token", "provider_data": {"homeserver": hs.url}})
        assert status == 201, body
        acc = str(body["id"])
        status, body = await api.post(f"/v1/accounts/{acc}/auth/session/import",
                                      {"params": {"access_token": user["access_token"]}})
        assert status == 200 and body["status"] == "authorized", body
        return acc


async def latency(api: Api, hs: Synapse, users: list[dict[str, Any]],
                  args: argparse.Namespace) -> None:
    sender = await asyncio.to_thread(hs.new_user, "sender")
    rooms = [await asyncio.to_thread(hs.direct_room, sender, u) for u in users[:args.busy]]
    await asyncio.sleep(2)  # the joins reach the runtimes' syncs
    total, sent, start = int(args.rate * args.seconds), 0, time.perf_counter()
    clock = CommitClock()
    headers = {"Authorization": f"Bearer {sender['access_token']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def say(i: int) -> None:
            room = rooms[i % len(rooms)]
            url = f"{hs.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/b{i}"
            async with http.put(url, json={"msgtype": "m.text",
                                           "body": f"t={time.time():.6f}"}) as resp:
                resp.raise_for_status()
        pending: set[asyncio.Task[None]] = set()
        while sent < total:
            pending.add(asyncio.create_task(say(sent)))
            sent += 1
            delay = start + sent / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*pending)
    push_rate = sent / (time.perf_counter() - start)
    rows = await stored_received(api, sent)
    clock.close()
    # From the homeserver's timestamp (origin_server_ts, the message's date) to the event row:
    # what the gateway adds, not the time Synapse takes to accept a send under load.
    lat = [clock.stored_at(r.created_at) - datetime.fromisoformat(
        r.data["message"]["date"].replace("Z", "+00:00")).timestamp() for r in rows
           if r.data["message"]["text"].startswith("t=")]
    report_latency("matrix", lat, sent, push_rate, len(rooms))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--busy", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        hs = Synapse(Path(tmp) / "synapse")
        await asyncio.to_thread(hs.start)
        try:
            n = max(args.idle, args.busy)
            users = [await asyncio.to_thread(hs.new_user, "b") for _ in range(n)]
            async with running(make_settings(Path(tmp) / "data", TOML)) as api:
                sem = asyncio.Semaphore(CONCURRENCY)
                t0 = time.perf_counter()
                accounts = await asyncio.gather(*(login(api, hs, u, sem) for u in users))
                print(f"[matrix] {n} token logins through the API: "
                      f"{n / (time.perf_counter() - t0):.1f}/s")
                await bring_online(api, list(accounts[:args.idle]), "matrix")
                await latency(api, hs, users, args)
        finally:
            hs.stop()


if __name__ == "__main__":
    asyncio.run(main())
