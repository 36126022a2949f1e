"""Two gateway processes on one database: each account's client runs in exactly one of them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.core.test_runtime import authorized, runtime_is, until
from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.db.models import Account
from unifyport.db.types import utcnow
from unifyport.runtime import balance
from unifyport.runtime.models import Worker
from unifyport.runtime.supervisor import RuntimeSupervisor


def sup(api: Api) -> RuntimeSupervisor:
    assert api.gateway.runtime is not None
    return api.gateway.runtime


async def owner(api: Api, acc: str) -> str | None:
    async with api.gateway.db.read() as s:
        return await s.scalar(select(Account.runtime_owner).where(Account.id == acc))


async def test_one_owner_then_takeover_after_a_crash(tmp_path: Path, database_url: str) -> None:
    a_plugin, b_plugin = TestPlugin(), TestPlugin()
    # Two gateways sharing the database and the master key, as two processes would.
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=database_url)
    async with running(settings, (("testprov", a_plugin),)) as a, \
            running(settings, (("testprov", b_plugin),)) as b:
        acc = await authorized(a)
        await a.post(f"/v1/accounts/{acc}/runtime/start")
        await until(lambda: _running_in(a, acc))
        for _ in range(5):  # b keeps renewing and never starts a second client
            await sup(b).maintain()
        assert not sup(b).is_running(acc)
        assert await owner(a, acc) == sup(a).owner
        for api in (a, b):  # short leases from here on, so that the takeover comes soon
            sup(api).lease_seconds = 0.5
        await sup(a).maintain()
        # a "crashes": its client and lease loop stop without releasing the lease
        assert sup(a)._maintainer is not None
        sup(a)._maintainer.cancel()
        for task in list(sup(a).tasks.values()):
            task.cancel()
        sup(a).tasks.clear()
        await until(lambda: _renewed_and_running(b, acc), limit=5.0)
        assert await owner(b, acc) == sup(b).owner
        # a stop on a reaches the client running in b at b's next renewal
        await a.post(f"/v1/accounts/{acc}/runtime/stop")
        await sup(b).maintain()
        assert not sup(b).is_running(acc)


async def test_graceful_shutdown_hands_over_at_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "a", CORE_ONLY)
    async with running(settings, (("testprov", TestPlugin()),)) as b:
        sup(b).lease_seconds = 60.0
        async with running(settings, (("testprov", TestPlugin()),)) as a:
            acc = await authorized(a)
            await sup(a).start(acc)
            await sup(b).maintain()
            assert sup(a).is_running(acc) and not sup(b).is_running(acc)
        # a shut down and released its 60 s lease: b takes over without waiting for it
        await sup(b).maintain()
        assert sup(b).is_running(acc)


async def _running_in(api: Api, acc: str) -> bool:
    return sup(api).is_running(acc)


async def _renewed_and_running(api: Api, acc: str) -> bool:
    """One lease renewal of ``api`` (as its loop does), then: does it run the account?"""
    await sup(api).maintain()
    return sup(api).is_running(acc)


async def test_a_process_that_cannot_renew_stops_its_clients(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut off from the database, a process stops its clients before its leases run out
    (then another process may take the accounts over without two clients at once)."""
    plugin = TestPlugin()
    settings = make_settings(tmp_path / "a", CORE_ONLY)
    async with running(settings, (("testprov", plugin),)) as a:
        acc = await authorized(a)
        await sup(a).start(acc)
        await until(lambda: _running_in(a, acc))
        sup(a).lease_seconds, sup(a).renew_every = 0.6, 0.2

        async def unreachable(*_args: object, **_kwargs: object) -> int:
            raise OSError("connection refused")

        monkeypatch.setattr(balance, "renew_and_claim", unreachable)
        sup(a).wake()
        await until(lambda: _true(not sup(a).is_running(acc)), limit=3.0)
        # the client's last status write runs to its end before the client task does
        await until(lambda: _true(not plugin.provider.clients.get(acc)), limit=3.0)


async def _true(value: bool) -> bool:
    return value


async def test_an_orphan_nobody_here_can_run_does_not_hurry_renewals(tmp_path: Path) -> None:
    """Renewals look again early for leases of other processes that are about to run out,
    never for ones already out that this process cannot take (its provider is not loaded
    here): those would make it renew in a busy loop."""
    settings = make_settings(tmp_path / "a", CORE_ONLY)
    async with running(settings, (("testprov", TestPlugin()),)) as a:
        acc = await authorized(a)
        now = utcnow()
        async with a.gateway.db.write() as s:
            await s.execute(update(Account).where(Account.id == acc).values(
                runtime_desired=True, runtime_owner="wrk_gone",
                runtime_lease_until=now - timedelta(seconds=1)))
            _, expiry = await balance.renew_and_claim(s, "wrk_here", now, 15.0, ["other"])
        assert expiry is None
        assert balance.next_look(expiry, 5.0) == 5.0
        async with a.gateway.db.write() as s:
            await s.execute(update(Account).where(Account.id == acc).values(
                runtime_lease_until=now + timedelta(seconds=2)))
            _, expiry = await balance.renew_and_claim(s, "wrk_here", now, 15.0, ["testprov"])
        assert expiry is not None and 1.5 < balance.next_look(expiry, 5.0) <= 2.1


async def test_a_start_touches_only_its_own_account(tmp_path: Path) -> None:
    """A ``runtime/start`` claims and starts its account alone: the leases of the clients
    already running here are the renewal loop's (renewing them at every start made N
    starts cost N²)."""
    settings = make_settings(tmp_path / "a", CORE_ONLY)
    async with running(settings, (("testprov", TestPlugin()),)) as a:
        assert sup(a)._maintainer is not None
        sup(a)._maintainer.cancel()  # no renewals in between: only the starts write
        accounts = [await authorized(a) for _ in range(6)]
        for acc in accounts[:5]:
            status, _ = await a.post(f"/v1/accounts/{acc}/runtime/start")
            assert status == 200
        await until(lambda: _true(all(sup(a).is_running(x) for x in accounts[:5])))
        await until(lambda: _statuses_are(a, accounts[:5], "running"))
        before = await _leases(a)
        status, body = await a.post(f"/v1/accounts/{accounts[5]}/runtime/start")
        assert status == 200 and body["status"] == "starting"
        after = await _leases(a)
        assert {k for k in before if before[k] != after[k]} == {accounts[5]}
        assert after[accounts[5]][0] == sup(a).owner
        await until(lambda: _statuses_are(a, accounts, "running"))
        # starting an account already running here changes no other account
        before = await _leases(a)
        status, body = await a.post(f"/v1/accounts/{accounts[0]}/runtime/start")
        assert status == 200 and body["status"] == "running"
        after = await _leases(a)
        assert {k for k in before if before[k] != after[k]} <= {accounts[0]}
        assert after[accounts[0]][0] == sup(a).owner


async def _leases(api: Api) -> dict[str, tuple[object, ...]]:
    async with api.gateway.db.read() as s:
        rows = (await s.execute(select(Account.id, Account.runtime_owner,
                                       Account.runtime_lease_until, Account.version))).all()
    return {r.id: tuple(r[1:]) for r in rows}


async def _statuses_are(api: Api, accounts: list[str], status: str) -> bool:
    async with api.gateway.db.read() as s:
        found = (await s.scalars(select(Account.runtime_status)
                                 .where(Account.id.in_(accounts)))).all()
    return set(found) == {status}


async def _row(api: Api, acc: str) -> tuple[object, ...]:
    async with api.gateway.db.read() as s:
        found = (await s.execute(select(Account.runtime_owner, Account.runtime_lease_until,
                                        Account.version).where(Account.id == acc))).one()
    return tuple(found)


async def _set_worker(api: Api, worker: str, seen_at: datetime, leases: str | None) -> None:
    async with api.gateway.db.write() as s:
        if await s.get(Worker, worker) is None:
            s.add(Worker(id=worker, host="elsewhere", pid=1, started_at=seen_at,
                         seen_at=seen_at, leases=leases))
        else:
            await s.execute(update(Worker).where(Worker.id == worker).values(
                seen_at=seen_at, leases=leases))


async def test_one_lease_per_process(tmp_path: Path, database_url: str) -> None:
    """A renewal writes the process's own row, never the rows of the accounts it runs;
    they stay its own while it is live, and another process takes them over once it is
    not (a process that stopped renewing: here its row is made old)."""
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=database_url)
    async with running(settings, (("testprov", TestPlugin()),)) as a:
        acc = await authorized(a)
        await sup(a).start(acc)
        await until(lambda: _running_in(a, acc))
        await until(lambda: runtime_is(a, acc, "running")())
        before = await _row(a, acc)
        assert before[:2] == (sup(a).owner, None)
        for _ in range(3):
            await sup(a).maintain()
        assert await _row(a, acc) == before  # not written: no lease, no version bump
        assert sup(a)._maintainer is not None
        sup(a)._maintainer.cancel()  # from here, a renews no more (as if it hung)
        now = utcnow()
        await _set_worker(a, "wrk_other", now, "process")  # a second live process
        async with a.gateway.db.write() as s:  # whose share is 1
            await balance.renew_and_claim(s, "wrk_other", now, 15.0, ["testprov"])
        assert await owner(a, acc) == sup(a).owner
        await _set_worker(a, sup(a).owner, now - timedelta(seconds=16), "process")
        async with a.gateway.db.write() as s:
            await balance.renew_and_claim(s, "wrk_other", utcnow(), 15.0, ["testprov"])
        assert await owner(a, acc) == "wrk_other"


async def test_per_account_leases_while_an_older_process_lives(tmp_path: Path,
                                                               database_url: str) -> None:
    """During a rolling upgrade a process of the previous version (its row has no
    ``leases``) holds each account by the account's ``runtime_lease_until`` and takes over
    an account whose lease ran out. While it lives, an account it held is taken once that
    lease ran out, and the accounts of the others get such leases, renewed with theirs;
    once it has gone, those leases are no longer written."""
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=database_url)
    async with running(settings, (("testprov", TestPlugin()),)) as a:
        acc = await authorized(a)
        now = utcnow()
        await _set_worker(a, "wrk_older", now, None)
        async with a.gateway.db.write() as s:  # the older process's account, lease over
            await s.execute(update(Account).where(Account.id == acc).values(
                runtime_desired=True, runtime_owner="wrk_older",
                runtime_lease_until=now - timedelta(seconds=1)))
        await sup(a).maintain()
        owner_, first, _ = await _row(a, acc)
        assert owner_ == sup(a).owner
        assert isinstance(first, datetime) and first > utcnow() + timedelta(seconds=10)
        await until(lambda: _running_in(a, acc))
        await sup(a).maintain()
        renewed = (await _row(a, acc))[1]
        assert isinstance(renewed, datetime) and renewed > first
        await _set_worker(a, "wrk_older", now - timedelta(hours=2), None)  # it has gone
        await sup(a).maintain()
        before = await _row(a, acc)
        await sup(a).maintain()
        assert await _row(a, acc) == before  # no longer renewed per account
