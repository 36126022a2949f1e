"""Benchmark of the API's hot path (for the record, not a timed test).

Prints, in one run, on SQLite and PostgreSQL, for each request below: requests/s of the real
gateway (``unifyport serve`` in its own process) beside a bare Quart app on hypercorn (its own
process) that checks the bearer header and returns, from memory, the very status and JSON body
the gateway answered for that request, and the ratio; the two are measured alternately
``--rounds`` times and the medians printed, with the range of the ratios (a shared 2-core
machine drifts by tens of percent between runs), and each server's CPU time per request
(steadier there than requests/s), with that of the load process and, for a local PostgreSQL
server, of the database server's processes: the three share the machine's cores. Then p50/p99
latency of each request on both servers at a fixed 200 requests/s (measured from each request's
scheduled time, so a stall counts against every request queued behind it), also alternately
``--rounds`` times: medians, and the range of the p99s.

Requests (50 accounts: 20 Telegram QR logins awaiting a scan in the project's MTProto
sandbox, 30 pending code logins; ~90 events):
- ``GET /v1/accounts/{id}``; ``GET /v1/accounts?limit=50``; ``GET /v1/events?limit=50``;
- ``GET /v1/nope``: an unknown route with a valid key (authentication only, then 404);
- ``POST /v1/accounts/{id}/auth/session/qr/check``: each client connection polls its own
  account awaiting a scan (steps on one account are serialised, as a client polls its own).

Load comes from a separate process on 127.0.0.1: 20 keep-alive connections, each sending its
next request when the previous answer is in (a minimal HTTP/1.1 client, so the client's own
CPU stays small beside the server's), ``--requests`` per measurement after 100 of warm-up.
PostgreSQL comes from ``UNIFYPORT_TEST_DATABASE_URL`` or a throw-away local cluster (as in
bench/webhooks.py); without either, only SQLite is measured.

    .venv/bin/python bench/api.py [--requests 3000] [--rounds 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CONNECTIONS = 20
WARMUP = 100
LATENCY_RATE = 200
LATENCY_SECONDS = 5.0
QR_ACCOUNTS = CONNECTIONS
CODE_ACCOUNTS = 30
API_ID, API_HASH = 12345, "0123456789abcdef0123456789abcdef"


# --- the load client (its own process) ----------------------------------------------------------

class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        length = next(int(h.split(":", 1)[1]) for h in head[1:]
                      if h.lower().startswith("content-length:"))
        if len(self.buf) >= end + 4 + length:
            del self.buf[:end + 4 + length]
            self.waiter.set_result(int(head[0].split()[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    async def send(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _raw(port: int, key: str, method: str, path: str) -> bytes:
    body = b"{}" if method == "POST" else b""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop (``rate`` 0: as fast as answers come) or a fixed rate; statuses counted."""
    loop = asyncio.get_running_loop()
    port, method, paths = spec["port"], spec["method"], spec["paths"]
    conns = []
    for _ in range(CONNECTIONS):
        _t, conn = await loop.create_connection(_Conn, "127.0.0.1", port)
        conns.append(conn)
    raws = [_raw(port, spec["key"], method, paths[i % len(paths)]) for i in range(CONNECTIONS)]
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def closed(i: int, n: int) -> None:
        for _ in range(n):
            status = await conns[i].send(raws[i])
            statuses[status] = statuses.get(status, 0) + 1

    for i in range(CONNECTIONS):  # warm-up: every connection, then the rest
        await closed(i, 1)
    await asyncio.gather(*(closed(i, WARMUP // CONNECTIONS) for i in range(CONNECTIONS)))
    statuses.clear()
    n = spec["requests"]
    t0 = time.perf_counter()
    if not spec["rate"]:
        await asyncio.gather(*(closed(i, n // CONNECTIONS) for i in range(CONNECTIONS)))
        return {"rps": n // CONNECTIONS * CONNECTIONS / (time.perf_counter() - t0),
                "statuses": statuses}
    queue: asyncio.Queue[float | None] = asyncio.Queue()

    async def worker(i: int) -> None:
        while (due := await queue.get()) is not None:
            status = await conns[i].send(raws[i])
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1

    workers = [asyncio.create_task(worker(i)) for i in range(CONNECTIONS)]
    for k in range(n):
        due = t0 + k / spec["rate"]
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    latencies.sort()
    return {"p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * .99) - 1],
            "statuses": statuses}


def cpu_seconds(pid: int, children: bool = False) -> float:
    """The process's CPU time (with its reaped children's when ``children``), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def database_server(url: str) -> int | None:
    """The pid of the local PostgreSQL server listening on ``url``'s port (its postmaster,
    found by the ``postmaster.pid`` of a running server's data directory), else ``None``."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            if args[0].rsplit(b"/", 1)[-1] != b"postgres" or b"-D" not in args:
                continue
            lines = (Path(args[args.index(b"-D") + 1].decode()) / "postmaster.pid"
                     ).read_text().splitlines()
        except (OSError, IndexError, ValueError):
            continue
        if lines[0] == proc.name and lines[3] == port:
            return int(proc.name)
    return None


def database_cpu(postmaster: int) -> float:
    """CPU time of the server and all its processes, living or ended, in seconds."""
    total = cpu_seconds(postmaster, children=True)
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[1] == str(postmaster):
                total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            continue
    return total


def load(server: tuple[int, int], key: str, method: str, paths: list[str], requests: int,
         rate: int = 0, postmaster: int | None = None) -> dict[str, Any]:
    """Run the load client in its own process against ``server`` (port, pid); its result,
    with the server's CPU time per request (warm-up included) under ``cpu``, and the
    database server's (``postmaster`` and its processes) under ``db_cpu``."""
    port, pid = server
    spec = {"port": port, "key": key, "method": method, "paths": paths, "requests": requests,
            "rate": rate}
    cpu = cpu_seconds(pid)
    db_cpu = 0.0 if postmaster is None else database_cpu(postmaster)
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, __file__, "--load"], input=json.dumps(spec),
                         capture_output=True, text=True, timeout=600, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    result["cpu"] = (cpu_seconds(pid) - cpu) / (requests + WARMUP)
    result["db_cpu"] = 0.0 if postmaster is None else (
        (database_cpu(postmaster) - db_cpu) / (requests + WARMUP))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["client_cpu"] = (after.ru_utime + after.ru_stime - client.ru_utime
                            - client.ru_stime) / (requests + WARMUP)
    return result


# --- the bare app (its own process) -------------------------------------------------------------

def bare_app(key: str, answers: dict[str, tuple[Any, int]]) -> Any:
    """The bare app: check the bearer header, answer the recorded (body, status) of
    ``"METHOD /path?query"`` from memory."""
    from quart import Quart, request

    app = Quart("bare")

    @app.route("/<path:path>", methods=["GET", "POST"])
    async def any_route(path: str) -> Any:
        if request.headers.get("Authorization") != f"Bearer {key}":
            return {"error": {"code": "unauthorized"}}, 401
        query = request.query_string.decode()
        return answers[f"{request.method} {request.path}" + (f"?{query}" if query else "")]

    return app


def bare_main(port: int, key: str, bodies_file: str) -> None:
    """Quart on hypercorn: :func:`bare_app` answering the gateway's recorded bodies."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    app = bare_app(key, {k: (v["body"], v["status"]) for k, v in
                         json.loads(Path(bodies_file).read_text()).items()})
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


# --- servers and setup --------------------------------------------------------------------------

def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(port: int, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None and method == "GET" else json.dumps(body or {}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_up(port: int, proc: subprocess.Popen[bytes], path: str = "/health") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_sandbox(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "unifyport_telegram.sandbox", "--state-dir",
                             str(tmp / "sandbox"), "--qr-ttl", "86400"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def gateway_toml(tmp: Path, name: str, database_url: str, sb: dict[str, Any]) -> Path:
    dcs = "\n".join(f'"{k}" = "{v}"' for k, v in sb["dcs"].items())
    url_line = f'database_url = "{database_url}"\n' if database_url else ""
    cfg = tmp / f"{name}.toml"
    cfg.write_text(f"""[storage]
data_dir = "{tmp / name}"
{url_line}[security]
outbound_allow_cidrs = ["127.0.0.1/32"]
[plugins.telegram]
backend = "telethon"
timeout = 30
[plugins.telegram.server]
dc_id = {sb["dc_id"]}
address = "{sb["mtproto"]}"
public_key_file = "{sb["public_key_file"]}"
[plugins.telegram.server.dcs]
{dcs}
""", encoding="utf-8")
    return cfg


class Target:
    """The requests of the bench, against one gateway; their recorded answers."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.answers: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, list[str]]] = []

    def setup(self) -> None:
        qr: list[str] = []
        for i in range(QR_ACCOUNTS + CODE_ACCOUNTS):
            mode = "qrcode" if i < QR_ACCOUNTS else "code"
            data: dict[str, Any] = {"api_id": API_ID, "api_hash": API_HASH}
            if mode == "code":
                data["phone"] = f"+1555{i:07d}"
            status, body = call(self.port, self.key, "POST", "/v1/accounts",
                                {"provider": "telegram", "auth_mode": mode, "name": f"bench {i}",
                                 "provider_data": data})
            assert status == 201, body
            if mode == "qrcode":
                acc = body["id"]
                status, body = call(self.port, self.key, "POST",
                                    f"/v1/accounts/{acc}/auth/session/qr/start")
                assert status == 200 and body["status"] == "awaiting_qr_scan", body
                qr.append(f"/v1/accounts/{acc}/auth/session/qr/check")
        first = qr[0].split("/")[3]
        self.requests = [
            ("GET /v1/accounts/{id}", "GET", [f"/v1/accounts/{first}"]),
            ("GET /v1/accounts?limit=50", "GET", ["/v1/accounts?limit=50"]),
            ("GET /v1/events?limit=50", "GET", ["/v1/events?limit=50"]),
            ("auth only (GET /v1/nope)", "GET", ["/v1/nope"]),
            ("POST .../auth/session/qr/check", "POST", qr),
        ]
        for _label, method, paths in self.requests:
            for path in paths:
                status, body = call(self.port, self.key, method, path)
                assert status in (200, 404), body
                self.answers[f"{method} {path}"] = {"status": status, "body": body}
        assert self.answers["GET /v1/accounts?limit=50"]["body"]["next_cursor"] is None


def start_gateway(tmp: Path, name: str, database_url: str, sb: dict[str, Any]
                  ) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    cfg = gateway_toml(tmp, name, database_url, sb)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    proc = subprocess.Popen([sys.executable, "-m", "unifyport.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, proc, "/ready")
    return proc, port, (tmp / name / "admin-api-key").read_text().strip()


def start_bare(tmp: Path, name: str, target: Target) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    bodies = tmp / f"{name}-bodies.json"
    bodies.write_text(json.dumps(target.answers))
    proc = subprocess.Popen([sys.executable, __file__, "--bare", str(port), target.key,
                             str(bodies)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, proc)
    return proc, port


def postgres_url() -> tuple[str | None, Any, str]:
    """bench/webhooks.py's: a fresh database on the env URL's server or a local cluster."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from webhooks import postgres_url as webhooks_postgres_url
    return webhooks_postgres_url()


def bench_database(tmp: Path, label: str, url: str, sb: dict[str, Any],
                   args: argparse.Namespace) -> None:
    name = f"gw{secrets.token_hex(3)}"
    gw, gw_port, key = start_gateway(tmp, name, url, sb)
    gw_server = (gw_port, gw.pid)
    db = database_server(url) if url else None
    bare = None
    try:
        target = Target(gw_port, key)
        target.setup()
        bare, bare_port = start_bare(tmp, name, target)
        bare_server = (bare_port, bare.pid)
        for req_label, method, paths in target.requests:
            for path in paths:  # the bare app answers exactly what the gateway did
                assert call(bare_port, key, method, path) == (
                    target.answers[f"{method} {path}"]["status"],
                    target.answers[f"{method} {path}"]["body"]), req_label
            gws, bares = [], []
            for _ in range(args.rounds):
                bares.append(load(bare_server, key, method, paths, args.requests))
                gws.append(load(gw_server, key, method, paths, args.requests, postmaster=db))
                want = target.answers[f"{method} {paths[0]}"]["status"]
                assert set(gws[-1]["statuses"]) == {str(want)}, (req_label, gws[-1]["statuses"])
            ratios = sorted(g["rps"] / b["rps"] for g, b in zip(gws, bares, strict=True))

            def med(runs: list[dict[str, Any]], what: str, scale: float = 1e6) -> float:
                return statistics.median(r[what] for r in runs) * scale

            print(f"{label:12} {req_label:32} {med(gws, 'rps', 1):>8.0f} "
                  f"{med(bares, 'rps', 1):>8.0f} {statistics.median(ratios):>6.2f}  "
                  f"({ratios[0]:.2f}-{ratios[-1]:.2f})  {med(gws, 'cpu'):>6.0f} "
                  f"{med(bares, 'cpu'):>6.0f} {med(gws, 'db_cpu'):>6.0f}   "
                  f"{med(gws, 'client_cpu'):>4.0f}/{med(bares, 'client_cpu'):<4.0f}", flush=True)
        n = int(LATENCY_RATE * LATENCY_SECONDS)
        lat: dict[str, list[tuple[float, float, float, float]]] = {}
        for _ in range(args.rounds):  # alternately, as above: one noisy second skews a p99
            for req_label, method, paths in target.requests:
                g = load(gw_server, key, method, paths, n, LATENCY_RATE)
                b = load(bare_server, key, method, paths, n, LATENCY_RATE)
                lat.setdefault(req_label, []).append((g["p50"], g["p99"], b["p50"], b["p99"]))
        for req_label, runs in lat.items():
            g50, g99, b50, b99 = (sorted(x * 1000 for x in col) for col in zip(*runs, strict=True))
            print(f"{label:12} {req_label:32} at {LATENCY_RATE}/s: gateway p50 "
                  f"{statistics.median(g50):5.1f} ms p99 {statistics.median(g99):6.1f} ms "
                  f"({g99[0]:.1f}-{g99[-1]:.1f})   bare p50 {statistics.median(b50):4.1f} ms "
                  f"p99 {statistics.median(b99):5.1f} ms ({b99[0]:.1f}-{b99[-1]:.1f})", flush=True)
    finally:
        stop(gw)
        if bare is not None:
            stop(bare)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="unifyport-bench-") as tmpdir:
        tmp = Path(tmpdir)
        sandbox, sb = start_sandbox(tmp)
        cleanup = None
        try:
            dbs = [("SQLite", "")]
            if not args.no_postgres:
                url, cleanup, source = postgres_url()
                if url:
                    dbs.append(("PostgreSQL", url))
                    print(f"PostgreSQL: {source}")
                else:
                    print(f"PostgreSQL skipped: {source}")
            print(f"\n{'database':12} {'request':32} {'gw req/s':>8} {'bare':>8} {'ratio':>6}  "
                  f"{'(range)':11}  {'CPU us/request gw':>6} {'bare':>6} {'db':>6}   "
                  f"client gw/bare\n({args.rounds} rounds of {args.requests} requests on "
                  f"{CONNECTIONS} connections; medians; db: the local PostgreSQL server's "
                  "processes, client: the load process)")
            for label, url in dbs:
                bench_database(tmp, label, url, sb, args)
        finally:
            stop(sandbox)
            if cleanup is not None:
                cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(asyncio.run(_load(json.loads(sys.stdin.read())))))
        return
    if args.bare:
        bare_main(int(args.bare[0]), args.bare[1], args.bare[2])
        return
    t0 = time.perf_counter()
    run(args)
    print(f"\n(total {time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
