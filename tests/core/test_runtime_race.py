"""Start, stop, send and delete hammered on one account from several tasks, on one gateway and
on two gateways sharing the database (as two processes would): every call answers within
seconds without a 5xx, at most one client runs, the last request wins and the stored status
ends equal to what runs (issue #19 item 2)."""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.core.test_runtime import authorized
from tests.fixtures import figures
from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.db.models import Account
from unifyport.runtime.supervisor import RuntimeSupervisor

ROUNDS = 6
TASKS = 4
OPS_PER_TASK = 12
CALL_LIMIT = 8.0
"""Longest any call may take (seconds): the stop wait (3 s) and slack for a loaded machine."""
SETTLE = 5.0
ANSWERS = {"start": {200, 404, 409}, "stop": {200, 404}, "send": {201, 404, 409, 503},
           "status": {200, 404}, "delete": {204, 404}}


def sup(api: Api) -> RuntimeSupervisor:
    assert api.gateway.runtime is not None
    return api.gateway.runtime


def _chain(coro: Any) -> list[str]:
    out = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            out.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return out


class Hammer:
    def __init__(self, apis: list[Api], providers: list[TestProvider], seed: int) -> None:
        self.apis, self.providers = apis, providers
        self.rng = random.Random(seed)
        self.calls = 0
        self.longest = 0.0

    async def call(self, api: Api, acc: str, op: str) -> int:
        path = f"/v1/accounts/{acc}"
        method, path, body = {
            "start": ("POST", f"{path}/runtime/start", None),
            "stop": ("POST", f"{path}/runtime/stop", None),
            "send": ("POST", f"{path}/messages", {"chat_id": 1, "text": "hi"}),
            "status": ("GET", f"{path}/runtime", None),
            "delete": ("DELETE", path, None),
        }[op]
        started = time.monotonic()
        try:
            status, answer = await asyncio.wait_for(api.call(method, path, body), CALL_LIMIT)
        except TimeoutError:
            for t in asyncio.all_tasks():
                print("TASK", t.get_name(), " <- ".join(_chain(t.get_coro())))
            raise AssertionError(f"{op} took over {CALL_LIMIT} s") from None
        self.calls += 1
        self.longest = max(self.longest, time.monotonic() - started)
        assert status in ANSWERS[op], (op, status, answer)
        if status == 503:  # an account on its way between processes: retry, never a crash
            assert answer["error"]["code"] == "runtime_unavailable", answer
        return status

    async def task(self, acc: str, delete_at: int | None) -> None:
        for i in range(OPS_PER_TASK):
            op = "delete" if i == delete_at else self.rng.choice(("start", "stop", "send",
                                                                   "status"))
            await self.call(self.rng.choice(self.apis), acc, op)
            await asyncio.sleep(self.rng.uniform(0, 0.01))

    async def round(self, acc: str) -> None:
        deleter = self.rng.randrange(TASKS * 2)  # a deletion in about half of the rounds
        await asyncio.gather(*(
            self.task(acc, self.rng.randrange(OPS_PER_TASK) if t == deleter else None)
            for t in range(TASKS)))
        final = self.rng.choice(("start", "stop"))
        status = await self.call(self.rng.choice(self.apis), acc, final)
        if status == 404:
            final = "delete"
        await self.settled(acc, final)

    def clients(self, acc: str) -> int:
        return len(set().union(*(p.clients.get(acc, set()) for p in self.providers)))

    async def settled(self, acc: str, final: str) -> None:
        """Within ``SETTLE`` seconds reality matches the last request and the stored
        status matches reality."""
        deadline = time.monotonic() + SETTLE
        while True:
            state = await self.state(acc)
            want = {"start": ("running", 1, 1, True), "stop": ("stopped", 0, 0, False),
                    "delete": (None, 0, 0, None)}[final]
            if state == want:
                break
            if time.monotonic() > deadline:
                for a in self.apis:
                    for t in [*sup(a).tasks.values(), *getattr(sup(a), "stopping", {}).values()]:
                        t.print_stack()
                    print(sup(a).tasks, getattr(sup(a), "stopping", None))
                print(self.providers[0].clients.get(acc))
            assert time.monotonic() < deadline, f"{final}: {state} != {want}"
            await asyncio.sleep(0.02)
        if final == "start":  # the running process sends
            [runner] = [a for a in self.apis if sup(a).is_running(acc)]
            status, _ = await runner.post(f"/v1/accounts/{acc}/messages",
                                          {"chat_id": 1, "text": "after"})
            assert status == 201

    async def state(self, acc: str) -> tuple[str | None, int, int, bool | None]:
        """(stored status, clients running, processes running it, stored desired)."""
        async with self.apis[0].gateway.db.read() as s:
            row = (await s.execute(select(Account.runtime_status, Account.runtime_desired)
                                   .where(Account.id == acc))).first()
        here = sum(sup(a).is_running(acc) for a in self.apis)
        if row is None:
            return None, self.clients(acc), here, None
        return row.runtime_status, self.clients(acc), here, row.runtime_desired


async def _hammer(apis: list[Api], providers: list[TestProvider], seed: int) -> Hammer:
    for api in apis:
        sup(api).renew_every = 0.2
        getattr(sup(api), "wake", lambda: None)()  # the loop picks the new period up now
    for provider in providers:
        provider.connect_delay = 0.02  # coming online takes a while
        provider.disconnect_delay = 0.02
    hammer = Hammer(apis, providers, seed)
    for _ in range(ROUNDS):
        await hammer.round(await authorized(apis[0]))
    assert max(p.most_clients for p in providers) == 1
    figures.report(f"runtime race ({len(apis)} gateway(s)): {hammer.calls} calls, 0 server errors, "
          f"longest call {hammer.longest * 1000:.0f} ms")
    return hammer


@pytest.mark.loop_watchdog
async def test_race_in_one_process(api: Api, provider: TestProvider) -> None:
    await _hammer([api], [provider], seed=19)


async def test_race_across_two_processes(tmp_path: Path, database_url: str) -> None:
    plugins = [TestPlugin(), TestPlugin()]
    shared: dict[str, set[asyncio.Task[Any] | None]] = {}  # clients of both processes
    for plugin in plugins:
        plugin.provider.clients = shared
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=database_url)
    async with AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(running(settings, (("testprov", p),)))
                for p in plugins]
        await _hammer(apis, [p.provider for p in plugins], seed=20)


@pytest.mark.loop_watchdog
@pytest.mark.parametrize("stop_first", [False, True])
async def test_stop_right_after_start_wins(api: Api, provider: TestProvider,
                                           stop_first: bool) -> None:
    """The issue's case: a stop a few milliseconds after a start (or the other way)."""
    provider.connect_delay = 0.05
    acc = await authorized(api)
    first, last = ("stop", "start") if stop_first else ("start", "stop")
    one = asyncio.create_task(api.post(f"/v1/accounts/{acc}/runtime/{first}"))
    for _ in range(500):  # the first request has reached the supervisor
        if getattr(sup(api), "_lock", None) is None or sup(api)._lock.locked():
            break
        await asyncio.sleep(0.001)
    two = asyncio.create_task(api.post(f"/v1/accounts/{acc}/runtime/{last}"))
    await asyncio.wait_for(asyncio.gather(one, two), CALL_LIMIT)
    await Hammer([api], [provider], 0).settled(acc, last)
    await asyncio.sleep(0.2)  # and it stays so
    assert (await Hammer([api], [provider], 0).state(acc))[:3] == (
        ("running", 1, 1) if last == "start" else ("stopped", 0, 0))


async def test_a_stale_running_status_is_settled_at_start(data_dir: Path,
                                                         plugin: TestPlugin) -> None:
    """A status left ``running`` for an account that should be offline (an older version's
    race, a crash between a stop and its status write) is ``stopped`` after a restart."""
    settings = make_settings(data_dir, CORE_ONLY)
    async with running(settings, (("testprov", plugin),)) as api:
        acc = await authorized(api)
        async with api.gateway.db.write() as s:
            await s.execute(update(Account).where(Account.id == acc).values(
                runtime_status="running", runtime_desired=False))
    async with running(settings, (("testprov", plugin),)) as api:
        status, body = await api.get(f"/v1/accounts/{acc}/runtime")
        assert (status, body["status"]) == (200, "stopped")
