"""The API's hot path in one process (for the record, not a timed test): the gateway app and a
bare Quart app driven through ASGI directly, without a server or sockets.

bench/api.py measures the servers as a client sees them, but on a shared 2-core machine its
ratios move by tens of percent between runs. This is the steadier view used to find and
check each saving: for each request, the CPU time per request (best of ``--rounds`` runs of
``--requests``, 20 requests in flight) of the gateway and of a bare Quart app answering the
gateway's recorded body from memory (bench/api.py's bare app), and the Python function
calls per request of each (counted by ``cProfile``: deterministic, whatever else the machine
runs). ``--profile NAME`` prints the gateway's profile of one request kind instead, timed in
CPU time (a wall-clock profile charges a system call with the time the process then waited
for the CPU: it once showed PostgreSQL's ``socket.send`` at ~150 µs, of which ~25 are CPU).

Requests: ``GET /v1/accounts/{id}``, ``GET /v1/accounts?limit=50`` (50 accounts),
``GET /v1/events?limit=50``, ``GET /v1/nope`` (authentication only), and
``POST …/auth/session/qr/check`` on an account awaiting a scan, on the suite's test provider
(no Telegram: its step answers from memory, as the Telegram provider does until the scan).
The garbage collector starts as ``serve`` starts it (``unifyport.collector``). SQLite, or
PostgreSQL with ``--postgres`` (``UNIFYPORT_TEST_DATABASE_URL`` or a throw-away local
cluster, as bench/webhooks.py).

    .venv/bin/python bench/api_profile.py [--postgres] [--requests 2000] [--rounds 5]
        [--profile get|list|events|nope|qr [--sort tottime]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's tests package
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import bare_app  # bench/api.py, beside this script

from tests.support.gateway import CORE_ONLY, make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.collector import CollectorPolicy

IN_FLIGHT = 20
DATA = {"api_id": 1, "api_hash": "0123456789abcdef0123456789abcdef"}


async def drive(app: Any, key: str, method: str, path: str, n: int) -> dict[int, int]:
    """``n`` requests through ``app``'s ASGI callable, ``IN_FLIGHT`` at a time; statuses."""
    body = b"{}" if method == "POST" else b""
    route, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode()),
               (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": method, "scheme": "http", "root_path": "",
             "path": route, "raw_path": route.encode(), "query_string": query.encode(),
             "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 80), "extensions": {}}
    statuses: dict[int, int] = {}

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while answering
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(dict(scope), receive, send)

    async def worker(k: int) -> None:
        for _ in range(k):
            await one()

    await asyncio.gather(*(worker(n // IN_FLIGHT) for _ in range(IN_FLIGHT)))
    return statuses


async def cpu_per_request(app: Any, key: str, method: str, path: str, n: int,
                          rounds: int) -> float:
    await drive(app, key, method, path, 200)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        await drive(app, key, method, path, n)
        best = min(best, (time.process_time() - started) / n)
    return best


async def calls_per_request(app: Any, key: str, method: str, path: str, n: int = 600
                            ) -> tuple[float, cProfile.Profile]:
    profile = cProfile.Profile(time.process_time)  # CPU: wall time counted waits as cost
    profile.enable()
    await drive(app, key, method, path, n)
    profile.disable()
    return pstats.Stats(profile).total_calls / n, profile  # type: ignore[attr-defined]


async def setup(api: Any) -> dict[str, tuple[str, str]]:
    ids = []
    for i in range(50):
        status, body = await api.post("/v1/accounts", {
            "provider": "testprov", "auth_mode": "code", "name": f"bench {i}",
            "provider_data": {**DATA, "phone": f"+1555{i:07d}"}})
        assert status == 201, body
        ids.append(body["id"])
    status, body = await api.post("/v1/accounts", {
        "provider": "testprov", "auth_mode": "qrcode", "provider_data": DATA})
    assert status == 201, body
    qr = body["id"]
    status, body = await api.post(f"/v1/accounts/{qr}/auth/session/qr/start")
    assert status == 200, body
    return {"get": ("GET", f"/v1/accounts/{ids[0]}"), "list": ("GET", "/v1/accounts?limit=50"),
            "events": ("GET", "/v1/events?limit=50"), "nope": ("GET", "/v1/nope"),
            "qr": ("POST", f"/v1/accounts/{qr}/auth/session/qr/check")}


async def bench(args: argparse.Namespace, url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="unifyport-bench-") as tmp:
        settings = make_settings(Path(tmp) / "data", CORE_ONLY, database_url=url)
        async with running(settings, (("testprov", TestPlugin()),)) as api:
            requests = await setup(api)
            answers = {}
            for method, path in requests.values():
                status, body = await api.call(method, path, {} if method == "POST" else None)
                answers[f"{method} {path}"] = (body, status)
            bare = bare_app(api.key, answers)
            async with bare.test_app():
                policy = CollectorPolicy()  # what serve starts with: frozen heap, young
                policy.start()  # threshold (its once-a-second upkeep would count as CPU)
                try:
                    await measure(args, api, bare, requests)
                finally:
                    policy.stop()


async def measure(args: argparse.Namespace, api: Any, bare: Any,
                  requests: dict[str, tuple[str, str]]) -> None:
    if args.profile:
        method, path = requests[args.profile]
        _calls, profile = await calls_per_request(api.app, api.key, method, path)
        pstats.Stats(profile).sort_stats(args.sort).print_stats(50)
        return
    print(f"{'request':8} {'CPU us/request gw':>18} {'bare':>6} {'ratio':>6}   "
          f"{'calls/request gw':>16} {'bare':>6}")
    for name, (method, path) in requests.items():
        gw_cpu = await cpu_per_request(api.app, api.key, method, path, args.requests,
                                       args.rounds)
        bare_cpu = await cpu_per_request(bare, api.key, method, path, args.requests,
                                         args.rounds)
        gw_calls, _ = await calls_per_request(api.app, api.key, method, path)
        bare_calls, _ = await calls_per_request(bare, api.key, method, path)
        print(f"{name:8} {gw_cpu * 1e6:>18.0f} {bare_cpu * 1e6:>6.0f} "
              f"{bare_cpu / gw_cpu:>6.2f}   {gw_calls:>16.0f} {bare_calls:>6.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=("get", "list", "events", "nope", "qr"))
    parser.add_argument("--sort", default="cumulative", help="the profile's order (pstats)")
    args = parser.parse_args()
    url, cleanup = None, None
    if args.postgres:
        from webhooks import postgres_url  # bench/webhooks.py, beside this script

        url, cleanup, source = postgres_url()
        if url is None:
            sys.exit(f"no PostgreSQL: {source}")
        print(f"PostgreSQL: {source}")
    try:
        asyncio.run(bench(args, url))
    finally:
        if cleanup is not None:
            cleanup()


if __name__ == "__main__":
    main()
