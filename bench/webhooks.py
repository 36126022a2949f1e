"""Benchmark of webhook delivery (for the record, not a timed test).

Prints, in one run, on SQLite and PostgreSQL:
- events/s from the outbox to the receiver's 2xx at endpoint concurrency 1 and 50, beside a
  bare aiohttp POST loop (same receiver, same signed ~1 KB body, same concurrency) and the ratio;
  the two are measured alternately ``--rounds`` times and the medians printed, with the range
  of the ratios (a shared 2-core machine drifts by tens of percent between runs);
- p50/p99 latency from an event's commit (its start) to the receiver's 2xx while events are
  written at 200 events/s.

The gateway tunes the garbage collector as ``unifyport serve`` does (and restores it after).

The receiver runs in its own process so both sides share the same peer. PostgreSQL comes from
``UNIFYPORT_TEST_DATABASE_URL`` or a throw-away local cluster (the test fixture's code, started
with fsync off); without either, only SQLite is measured.

    .venv/bin/python bench/webhooks.py [--events 20000] [--rounds 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from unifyport.accounts.service import emit
from unifyport.config import load_settings
from unifyport.db.repositories import EventRepository
from unifyport.gateway import Gateway
from unifyport.http.app import create_app, tune_garbage_collector
from unifyport.http.context import EXTENSION
from unifyport_webhook.signing import signature_header

BODY = json.dumps({"type": "message.received", "timestamp": "2026-01-01T00:00:00Z",
                   "data": {"text": "x" * 900}}).encode()
LATENCY_RATE = 200
LATENCY_SECONDS = 5.0


# --- the receiver process ---------------------------------------------------------------------

def receiver_main() -> None:
    arrivals: dict[str, float] = {}
    count = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        wid = request.headers.get("webhook-id")
        if wid is not None and wid not in arrivals:
            arrivals[wid] = time.time()
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        nonlocal count
        body: dict[str, Any] = {"count": count}
        if request.query.get("arrivals"):
            body["arrivals"] = arrivals
        if request.query.get("reset"):
            count = 0
            arrivals.clear()
        return web.json_response(body)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


class ReceiverProc:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--receiver"],
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    async def stats(self, session: aiohttp.ClientSession, **query: str) -> dict[str, Any]:
        async with session.get(f"{self.url}/stats", params=query) as resp:
            result: dict[str, Any] = await resp.json()
            return result

    async def wait_count(self, session: aiohttp.ClientSession, n: int, limit: float) -> float:
        deadline = time.perf_counter() + limit
        while (await self.stats(session))["count"] < n:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"receiver did not get {n} requests in {limit} s")
            await asyncio.sleep(0.01)
        return time.perf_counter()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- measurements -----------------------------------------------------------------------------

async def bare_loop(rx: ReceiverProc, n: int, concurrency: int) -> float:
    """Signed POSTs of the same body from a pooled aiohttp session: requests/s."""
    key = secrets.token_bytes(32)
    todo = iter(range(n))
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker() -> None:
            for i in todo:
                ts = int(time.time())
                headers = {"content-type": "application/json", "webhook-id": f"bare_{i}",
                           "webhook-timestamp": str(ts),
                           "webhook-signature": signature_header((key,), f"bare_{i}", ts, BODY)}
                async with session.post(f"{rx.url}/hook", data=BODY, headers=headers,
                                        allow_redirects=False) as resp:
                    await resp.read()
                    assert 200 <= resp.status < 300

        await rx.stats(session, reset="1")
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


def _settings(tmp: Path, database_url: str, rx: ReceiverProc, concurrency: int) -> Any:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    url_line = f'database_url = "{database_url}"\n' if database_url else ""
    cfg = tmp / f"bench-{secrets.token_hex(4)}.toml"
    cfg.write_text(
        f'[storage]\ndata_dir = "{tmp / "data"}"\n{url_line}'
        '[security]\noutbound_allow_cidrs = ["127.0.0.1/32"]\n'
        "[[plugins.webhook.endpoints]]\n"
        f'name = "bench"\nurl = "{rx.url}/hook"\nsecret = "{secret}"\n'
        f"max_concurrency = {concurrency}\n", encoding="utf-8")
    return load_settings(cfg, environ={})


@contextlib.asynccontextmanager
async def gateway(settings: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):  # the first-start admin key notice
        app = create_app(settings)
        app.while_serving(tune_garbage_collector)  # as `unifyport serve` does
        async with app.test_app():
            gw = app.extensions[EXTENSION]
            assert isinstance(gw, Gateway)
            yield gw


async def sink_throughput(tmp: Path, database_url: str, rx: ReceiverProc, n: int,
                          concurrency: int) -> float:
    """Events written in bulk to the outbox, timed until the receiver has answered them all."""
    async with gateway(_settings(tmp, database_url, rx, concurrency)) as gw, \
            aiohttp.ClientSession() as session:
        await asyncio.sleep(0.2)  # the sink has declared its endpoint
        await rx.stats(session, reset="1")
        data = {"text": "x" * 900}
        async with gw.db.write() as s:
            for _ in range(n):
                emit(s, "message.received", "acc_bench", data)
        t0 = time.perf_counter()
        t1 = await rx.wait_count(session, n, 120)
        return n / (t1 - t0)


async def commit_latency(tmp: Path, database_url: str, rx: ReceiverProc) -> tuple[float, float]:
    """p50/p99 seconds from commit to 2xx, one event per transaction at 200 events/s."""
    n = int(LATENCY_RATE * LATENCY_SECONDS)
    committed: dict[str, float] = {}
    async with gateway(_settings(tmp, database_url, rx, 50)) as gw, \
            aiohttp.ClientSession() as session:
        await asyncio.sleep(0.2)
        await rx.stats(session, reset="1")
        start = time.perf_counter()
        for i in range(n):
            delay = start + i / LATENCY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with gw.db.write() as s:
                ev = EventRepository(s).append("message.received", "acc_bench", {"i": i})
                # The commit follows; a sink may deliver before this coroutine resumes.
                committing = time.time()
            committed[ev.id] = committing
        await rx.wait_count(session, n, 60)
        arrivals = (await rx.stats(session, arrivals="1"))["arrivals"]
    lat = sorted(arrivals[k] - t for k, t in committed.items())
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def postgres_url() -> tuple[str | None, Any, str]:
    """A fresh PostgreSQL database URL, a cleanup, and where it came from."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        from tests.fixtures.postgres_cluster import LocalCluster, server_from_url
    except ImportError as exc:
        return None, lambda: None, f"fixture code not importable ({exc})"
    env = os.environ.get("UNIFYPORT_TEST_DATABASE_URL")
    cluster = None
    try:
        if env:
            server = server_from_url(env)
        else:
            cluster = LocalCluster()
            server = cluster.start()
        name = f"bench_{secrets.token_hex(4)}"
        server.create_database(name)
    except Exception as exc:
        if cluster is not None:
            cluster.stop()
        return None, lambda: None, f"no server ({exc})"

    def cleanup() -> None:
        with contextlib.suppress(Exception):
            server.drop_database(name)
        if cluster is not None:
            cluster.stop()

    return server.url_for(name), cleanup, "env URL" if env else "local cluster, fsync off"


async def run(args: argparse.Namespace) -> None:
    rx = ReceiverProc()
    dbs: list[tuple[str, str]] = []
    cleanup = None
    try:
        with tempfile.TemporaryDirectory(prefix="unifyport-bench-") as tmpdir:
            tmp = Path(tmpdir)
            dbs.append(("SQLite", ""))
            if not args.no_postgres:
                url, cleanup, source = postgres_url()
                if url:
                    dbs.append((f"PostgreSQL ({source})", url))
                else:
                    print(f"PostgreSQL skipped: {source}")
            print(f"\n{'database':34} {'conc':>4} {'sink ev/s':>10} {'bare req/s':>11} "
                  f"{'ratio':>6}  (ratios of {args.rounds} rounds)")
            for label, url in dbs:
                for conc in (1, 50):
                    n = args.events if conc == 50 else max(args.events // 10, 500)
                    rates, bares = [], []
                    for r in range(args.rounds):
                        bares.append(await bare_loop(rx, n, conc))
                        sub = tmp / f"{len(label)}-{conc}-{r}"
                        sub.mkdir()
                        rates.append(await sink_throughput(sub, url, rx, n, conc))
                    ratios = sorted(s / b for s, b in zip(rates, bares, strict=True))
                    print(f"{label:34} {conc:>4} {statistics.median(rates):>10.0f} "
                          f"{statistics.median(bares):>11.0f} {statistics.median(ratios):>6.2f}  "
                          f"({ratios[0]:.2f}-{ratios[-1]:.2f})", flush=True)
            print(f"\ncommit -> 2xx latency at {LATENCY_RATE} events/s "
                  f"({int(LATENCY_RATE * LATENCY_SECONDS)} events):")
            for label, url in dbs:
                sub = tmp / f"lat-{len(label)}"
                sub.mkdir()
                p50, p99 = await commit_latency(sub, url, rx)
                print(f"  {label:34} p50 {p50 * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms",
                      flush=True)
    finally:
        rx.close()
        if cleanup is not None:
            cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver_main()
        return
    t0 = time.perf_counter()
    asyncio.run(run(args))
    print(f"\n(total {time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
