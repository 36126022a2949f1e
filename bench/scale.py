"""Scale of one process (for the record, not a timed test): N idle online Telegram accounts.

For each backend (Telethon, Kurigram) and database (SQLite; PostgreSQL with ``--postgres``):

- N accounts imported through the API (session strings of keys seeded in the sandbox);
- RSS per idle online account beyond the process with the accounts stored but offline, and
  the process's idle CPU (% of one core) with all N online;
- a restart (the app stopped gracefully and started again over the same data): seconds until
  all N are ``running`` again, and the most starts seen in one second (the supervisor's
  ``[runtime] start_rate`` spaces them);
- the sandbox's own cost: RSS per connected client and idle CPU;
- inbound message -> ``message.received`` stored (its commit), p50/p99, at ``--rate``
  msg/s (or at each of ``--rates``, e.g. ``500,1000,2000``) over ``--busy`` accounts while
  all N are online, with the CPU time each message cost the gateway and the sandbox;
- the pause of the garbage collector's periodic full collection with all N online.

The sandbox is its own process, and so is the pusher of inbound messages
(``bench/pusher.py``); the gateway runs in this one, under the garbage-collection policy
``serve`` runs (``unifyport.collector``). The sandbox's users and auth
keys are written into its state directory before it starts (a login per account through the
API would take most of the run); the import step then checks each session with the sandbox.

    .venv/bin/python bench/scale.py [--accounts 5000] [--busy 200] [--rate 2000]
        [--rates 500,1000,2000] [--seconds 10] [--backend both] [--postgres]
        [--start-rate 100] [--idle-seconds 20] [--idle-only]
        [--probe-interval 60] [--ping-interval 60] [--heartbeat-rate 20]
        [--profile-idle FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import json
import logging
import os
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's tests package

from online import rss_mb  # bench/online.py, beside this script
from sqlalchemy import func, select, update
from telegram import latency, own_cpu_seconds, toml  # bench/telegram.py, beside this script

from tests.support.gateway import Api, make_settings, running
from unifyport import collector
from unifyport.collector import CollectorPolicy, collector_policy
from unifyport.db.models import Account
from unifyport_telegram.config import TelegramConfig
from unifyport_telegram.sandbox.testing import (
    API_HASH,
    API_ID,
    ControlClient,
    telethon_session_to_pyrogram,
)

IMPORT_CONCURRENCY = 10
API_STARTS = 100
"""Accounts brought online by ``runtime/start`` calls; the others are marked desired-online
in the database (as ``[[accounts]]`` with ``online = true`` or a restart leaves them)."""
DC_ID = 2
START_TIMEOUT = 600
"""Seconds the app's start-up and shutdown may take (the harness's default, 60, was passed
by a restart of 5,000 accounts on the loaded machine)."""
FIRST_USER = 1_000_001
CLK = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (the sandbox inherits it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def seed_sandbox(state_dir: Path, n: int) -> list[tuple[int, str]]:
    """Write ``n`` users and an auth key bound to each into a new sandbox state directory;
    returns (user id, Pyrogram session string) per user."""
    state_dir.mkdir(parents=True)
    users, keys, out = [], [], []
    for i in range(n):
        uid, key = FIRST_USER + i, secrets.token_bytes(256)
        users.append({"id": uid, "phone": f"+1760{i:07d}", "first_name": f"Scale{i}",
                      "access_hash": secrets.randbits(62)})
        keys.append({"key": key.hex(), "dc_id": DC_ID, "salt": secrets.randbits(62),
                     "user_id": uid})
        out.append((uid, telethon_session_to_pyrogram(DC_ID, key, uid)))
    (state_dir / "state.json").write_text(json.dumps({
        "next_user_id": FIRST_USER + n, "next_chat_id": 5_000_001, "next_uid": 0,
        "users": users, "chats": [], "keys": keys}))
    return out


class Proc:
    """CPU and RSS of another process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


async def idle_cpu(sandbox: Proc, seconds: float, profile: str | None = None
                   ) -> tuple[float, float]:
    """% of one core used by this process and by the sandbox over ``seconds`` of idling;
    with ``profile``, the event loop's thread is profiled meanwhile (in its CPU time) and
    the statistics written there (``python -m pstats FILE``)."""
    profiler = cProfile.Profile(time.thread_time) if profile else None
    t0, me0, sb0 = time.monotonic(), own_cpu_seconds(), sandbox.cpu_seconds()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(seconds)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    wall = time.monotonic() - t0
    return (100 * (own_cpu_seconds() - me0) / wall, 100 * (sandbox.cpu_seconds() - sb0) / wall)


async def import_one(api: Api, session: str, sem: asyncio.Semaphore,
                     failures: list[str]) -> str:
    """Create and import one account; a failed import is retried (up to 3 times) and
    counted in ``failures`` (printed: they are findings, not noise)."""
    async with sem:
        status, body = await api.post("/v1/accounts", {
            "provider": "telegram", "auth_mode": "session",
            "provider_data": {"api_id": API_ID, "api_hash": API_HASH}})
        assert status == 201, body
        acc = body["id"]
        for _ in range(3):
            status, body = await api.post(f"/v1/accounts/{acc}/auth/session/import",
                                          {"params": {"session_url": session}})
            if status == 200 and body["status"] == "authorized":
                return str(acc)
            failures.append(f"{status} {body.get('error', {}).get('code')}")
        raise AssertionError(body)


async def start_one(api: Api, acc: str, sem: asyncio.Semaphore) -> None:
    async with sem:
        status, body = await api.post(f"/v1/accounts/{acc}/runtime/start")
        assert status == 200, body


async def count_running(api: Api) -> int:
    stmt = select(func.count()).select_from(Account).where(Account.runtime_status == "running")
    return int(await api.gateway.db.query(lambda conn: conn.execute(stmt).scalar_one()))


async def until_running(api: Api, n: int, deadline: float, since: float
                        ) -> tuple[float, float]:
    """Seconds from ``since`` (a ``time.monotonic()``) until ``n`` accounts are running, and
    the fastest they became running: new ones per second between two samples (about a
    second apart; the first counted from ``since``, so what came up while the app started is
    spread over that time instead of read as one second's)."""
    last, seen, peak = since, 0, 0.0
    while time.monotonic() - since < deadline:
        now = await count_running(api)
        at = time.monotonic()
        peak, last, seen = max(peak, (now - seen) / max(at - last, 1.0)), at, now
        if now >= n:
            return at - since, peak
        await asyncio.sleep(1.0)
    raise RuntimeError(f"only {seen}/{n} accounts running after {deadline:.0f} s")


async def bench(backend: str, db_name: str, url: str | None, args: argparse.Namespace,
                root: Path) -> None:
    """One backend on one database, under the collection policy ``serve`` runs."""
    async with collector_policy() as policy:
        await bench_under(policy, backend, db_name, url, args, root)


async def bench_under(policy: CollectorPolicy, backend: str, db_name: str, url: str | None,
                      args: argparse.Namespace, root: Path) -> None:
    n, tag = args.accounts, f"{backend}/{db_name}"
    state_dir = root / f"sandbox-{backend}-{db_name}"
    sessions = seed_sandbox(state_dir, n)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "unifyport_telegram.sandbox", "--state-dir", str(state_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
    sandbox = Proc(proc.pid)
    control = ControlClient(info["control"])
    extra = f"\n[runtime]\nstart_rate = {args.start_rate}\n"
    given = {key: value for key, value in (("probe_interval", args.probe_interval),
                                           ("ping_interval", args.ping_interval),
                                           ("heartbeat_rate", args.heartbeat_rate))
             if value is not None}
    cfg = dataclasses.replace(TelegramConfig(), **given)
    heartbeat = "".join(f"{key} = {value}\n" for key, value in given.items())
    settings = make_settings(root / f"data-{backend}-{db_name}",
                             toml(info, backend).replace("timeout = 30\n",
                                                         "timeout = 30\n" + heartbeat)
                             + extra, database_url=url)
    try:
        async with running(settings, start_seconds=START_TIMEOUT) as api:
            sem = asyncio.Semaphore(IMPORT_CONCURRENCY)
            t0 = time.perf_counter()
            failures: list[str] = []
            accounts = await asyncio.gather(*(import_one(api, s, sem, failures)
                                              for _, s in sessions))
            print(f"[{tag}] {n} session imports through the API: "
                  f"{n / (time.perf_counter() - t0):.0f}/s; {len(failures)} failed and were "
                  f"retried {sorted(set(failures))}")
            policy.collect_all()
            await asyncio.sleep(2)
            rss0, sb_rss0 = rss_mb(), sandbox.rss_mb()
            cpu0, sb_cpu0 = await idle_cpu(sandbox, args.idle_seconds)
            t0 = time.monotonic()
            await asyncio.gather(*(start_one(api, a, sem) for a in accounts[:API_STARTS]))
            async with api.gateway.db.write() as s:  # the rest as a deployment would: stored
                await s.execute(update(Account).values(runtime_desired=True))
            assert api.gateway.runtime is not None
            api.gateway.runtime.wake()  # what the next lease renewal would do
            took, peak = await until_running(api, n, args.deadline, t0)
            print(f"[{tag}] {API_STARTS} runtime/start calls, the other {n - API_STARTS} "
                  f"desired-online in the database: all {n} running in {took:.1f} s; at most "
                  f"{peak:.0f} new running a second (start_rate {args.start_rate:g}/s)")
            # Every client's first heartbeat comes within one tick of its start: measured
            # after that, the window sees the steady rate.
            tick = cfg.tick(n)
            await asyncio.sleep(5 + tick)
            policy.collect_all()
            rss1, sb_rss1 = rss_mb(), sandbox.rss_mb()
            ended = collector._ended  # clients ended (stopped or reconnecting) so far
            cpu1, sb_cpu1 = await idle_cpu(sandbox, args.idle_seconds, args.profile_idle)
            ended = collector._ended - ended
            per = (rss1 - rss0) * 1024 / n
            print(f"[{tag}] gateway RSS {rss0:.0f} MB (accounts offline) -> {rss1:.0f} MB with "
                  f"{n} idle online: {per:.0f} KB per account (target <= 100: "
                  f"{per / 100:.2f}x)")
            print(f"[{tag}] gateway idle CPU {cpu0:.1f}% of a core offline, {cpu1:.1f}% with "
                  f"{n} online (target <= 5%: {cpu1 / 5:.2f}x; heartbeat every "
                  f"{tick:g} s ({n / tick:.0f} a second), a probe at least every "
                  f"{max(cfg.probe_interval, tick):g} s; {ended} clients "
                  f"ended, i.e. reconnected, meanwhile)")
            print(f"[{tag}] sandbox RSS {sb_rss0:.0f} MB -> {sb_rss1:.0f} MB: "
                  f"{(sb_rss1 - sb_rss0) * 1024 / n:.0f} KB per connected client; idle CPU "
                  f"{sb_cpu0:.1f}% -> {sb_cpu1:.1f}% of a core")
        if args.idle_only:
            return
        t0 = time.monotonic()
        async with running(settings, start_seconds=START_TIMEOUT) as api:
            took, peak = await until_running(api, n, args.deadline, t0)
            print(f"[{tag}] restart: all {n} running again {took:.1f} s after the app started "
                  f"(target <= 120 s: {took / 120:.2f}x); at most {peak:.0f} new running a "
                  f"second (start_rate {args.start_rate:g}/s)")
            if args.busy:
                await asyncio.sleep(2)
                busy = [(a, uid) for a, (uid, _) in zip(accounts, sessions, strict=True)]
                for rate in rates(args):
                    sb_cpu = sandbox.cpu_seconds()
                    cpu = await latency(api, control, busy[:args.busy],
                                        argparse.Namespace(**{**vars(args), "rate": rate}), tag)
                    sent = int(rate * args.seconds)
                    print(f"[{tag}]   CPU per inbound message: gateway "
                          f"{cpu / sent * 1e6:.0f} us (its own: the push runs in another "
                          f"process), sandbox "
                          f"{(sandbox.cpu_seconds() - sb_cpu) / sent * 1e6:.0f} us")
            print(f"[{tag}] garbage collector: a full collection with {n} online took "
                  f"{policy.collect_all() * 1000:.0f} ms (at most one every "
                  f"{policy.full_interval:.0f} s, once a quarter as many clients as are online "
                  f"ended); {policy.refreezes} re-freezes so far, the longest "
                  f"{policy.longest_refreeze * 1000:.0f} ms")
    finally:
        await control.close()
        proc.terminate()
        await proc.wait()


def rates(args: argparse.Namespace) -> list[float]:
    return [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--busy", type=int, default=200)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--rates", default="", help="several rates, one run each: 500,2000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--idle-only", action="store_true",
                        help="stop after the idle figures (no restart, no inbound)")
    parser.add_argument("--profile-idle", metavar="FILE",
                        help="profile the idle window with all online (pstats file)")
    parser.add_argument("--probe-interval", type=float, help="[plugins.telegram] key")
    parser.add_argument("--ping-interval", type=float, help="[plugins.telegram] key")
    parser.add_argument("--heartbeat-rate", type=float, help="[plugins.telegram] key")
    parser.add_argument("--start-rate", type=float, default=100.0)
    parser.add_argument("--deadline", type=float, default=900.0)
    parser.add_argument("--backend", choices=["telethon", "pyrogram", "both"], default="both")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"open-file limit {raise_nofile()}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start (the machine is shared)")
    backends = ["telethon", "pyrogram"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        os.chdir(tmp)  # Kurigram's working-directory files stay out of the repository
        for backend in backends:
            await bench(backend, "sqlite", None, args, Path(tmp))
            if args.postgres:
                from webhooks import postgres_url  # bench/webhooks.py

                url, cleanup, source = postgres_url()  # a new database per backend
                try:
                    if url is None:
                        print(f"PostgreSQL skipped: {source}")
                    else:
                        await bench(backend, "postgresql", url, args, Path(tmp))
                finally:
                    cleanup()

if __name__ == "__main__":
    asyncio.run(main())
