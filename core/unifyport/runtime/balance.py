"""How the online accounts are shared between the live ``serve`` processes.

Each process renews, in one transaction, its own row in ``runtime_workers`` (seen now), and
claims orphaned accounts (no owner, or an owner that no longer holds them) — but only up to
its *share*, ``ceil(desired-online accounts / live processes)``, a process being live while
it was seen within a lease period. A process holding more than its share (another process
started or came back) hands the excess over: it stops those clients and clears their owner,
and a process below its share claims them at its next renewal.

One lease per process: an account is held by its owner while the owner's row is live
(``leases = 'process'``), so a renewal writes one row however many accounts the process
runs (it wrote each of them: 5,000 rows every 5 s). Processes older than this scheme hold
each account until its own ``runtime_lease_until`` instead, and take over an account whose
lease ran out (never one with an owner and no lease): while one of them is live (a rolling
upgrade), the others renew the ``runtime_lease_until`` of theirs as before, and an account
is held by either rule.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.auth.declare import AUTHORIZED
from unifyport.db.models import Account
from unifyport.db.types import utcnow
from unifyport.providers import RuntimeStatus
from unifyport.runtime.models import Worker

FORGET_WORKERS = timedelta(hours=1)
"""Rows of processes not seen for this long are removed."""


PROCESS_LEASES = "process"
"""``runtime_workers.leases`` of a process that holds its accounts by its own liveness."""


def _live(now: datetime, lease: float) -> ColumnElement[bool]:
    return Worker.seen_at >= now - timedelta(seconds=lease)


def unheld(now: datetime, lease: float) -> ColumnElement[bool]:
    """The account's client runs nowhere: no owner, or an owner that is neither a live
    process holding its accounts by its liveness nor within the account's own lease."""
    by_process = select(Worker.id).where(_live(now, lease), Worker.leases == PROCESS_LEASES)
    return or_(Account.runtime_owner.is_(None), and_(
        or_(Account.runtime_lease_until.is_(None), Account.runtime_lease_until < now),
        Account.runtime_owner.not_in(by_process)))


def _claimable(providers: list[str], now: datetime, lease: float) -> ColumnElement[bool]:
    return and_(Account.runtime_desired.is_(True), Account.status == AUTHORIZED,
                Account.provider.in_(providers), unheld(now, lease))


async def beat(s: AsyncSession, worker: str, now: datetime, lease: float) -> tuple[int, bool]:
    """Record that ``worker`` is alive now; the number of live processes (itself included)
    and whether one of them still holds accounts by per-account leases (an older version,
    during a rolling upgrade)."""
    seen = await s.execute(update(Worker).where(Worker.id == worker)
                           .values(seen_at=now, leases=PROCESS_LEASES))
    if not seen.rowcount:  # type: ignore[attr-defined]
        s.add(Worker(id=worker, host=socket.gethostname()[:255], pid=os.getpid(),
                     started_at=now, seen_at=now, leases=PROCESS_LEASES))
        await s.execute(delete(Worker).where(Worker.seen_at < now - FORGET_WORKERS))
        await s.flush()
    live, older = (await s.execute(select(
        func.count(), func.count().filter(Worker.leases.is_(None))).where(
        _live(now, lease)))).one()
    return max(int(live or 0), 1), bool(older)


async def renew_and_claim(s: AsyncSession, worker: str, now: datetime, lease: float,
                          providers: list[str]) -> tuple[int, datetime | None]:
    """Renew ``worker``'s lease and claim orphans up to its share; returns the share and
    when the first hold of another process may end (a process that died stops being live
    then: the others look again at that moment)."""
    live, older = await beat(s, worker, now, lease)
    until = now + timedelta(seconds=lease) if older else None
    values: dict[str, Any] = {"runtime_owner": worker, "runtime_lease_until": until}
    if older:  # an older process judges our accounts by their own leases: keep them fresh
        await s.execute(update(Account).where(Account.runtime_owner == worker)
                        .values(runtime_lease_until=until)
                        .execution_options(synchronize_session=False))
    desired = int(await s.scalar(select(func.count()).select_from(Account).where(
        Account.runtime_desired.is_(True), Account.status == AUTHORIZED,
        Account.provider.in_(providers))) or 0)
    held = int(await s.scalar(select(func.count()).select_from(Account).where(
        Account.runtime_owner == worker, Account.runtime_desired.is_(True))) or 0)
    share = math.ceil(desired / live)
    if share > held:
        orphans = (select(Account.id).where(_claimable(providers, now, lease))
                   .order_by(Account.id).limit(share - held)
                   .with_for_update(skip_locked=True))
        await s.execute(update(Account)
                        .where(Account.id.in_(orphans.scalar_subquery()),
                               _claimable(providers, now, lease))
                        .values(**values).execution_options(synchronize_session=False))
    others = and_(Account.runtime_owner != worker, Account.runtime_desired.is_(True),
                  Account.provider.in_(providers))
    leases_end = await s.scalar(select(func.min(Account.runtime_lease_until)).where(
        others, Account.runtime_lease_until > now))
    last_seen = await s.scalar(select(func.min(Worker.seen_at)).where(
        _live(now, lease), Worker.leases == PROCESS_LEASES,
        Worker.id.in_(select(Account.runtime_owner).where(others))))
    ends = [t for t in (leases_end, last_seen and last_seen + timedelta(seconds=lease)) if t]
    return share, min(ends, default=None)


async def claim(s: AsyncSession, worker: str, account_id: str, now: datetime, lease: float,
                providers: list[str]) -> bool:
    """Claim (or renew) one desired-online account for ``worker`` when nobody else holds
    a live lease on it: what a ``runtime/start`` needs, one row however many accounts the
    process runs (the others' leases are the renewal loop's). The account may put the
    process above its share; the next renewal hands the excess over."""
    result = await s.execute(
        update(Account).where(Account.id == account_id, or_(
            _claimable(providers, now, lease),
            and_(Account.runtime_owner == worker, Account.runtime_desired.is_(True))))
        .values(runtime_owner=worker, runtime_lease_until=None)  # held while we are live
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def next_look(expiry: datetime | None, renew_every: float) -> float:
    """Seconds until the next renewal: ``renew_every``, or sooner when another process's
    lease runs out before (then its accounts are taken over without waiting a renewal)."""
    if expiry is None:
        return renew_every
    return min(renew_every, max(0.05, (expiry - utcnow()).total_seconds() + 0.05))


async def stale_statuses(s: AsyncSession, now: datetime, lease: float) -> Sequence[str]:
    """Accounts that should be offline and that no live process holds, whose stored status
    says otherwise (a crash between a stop and its status write)."""
    live = [st.value for st in (RuntimeStatus.STARTING, RuntimeStatus.RUNNING,
                                RuntimeStatus.RECONNECTING)]
    return (await s.scalars(select(Account.id).where(
        Account.runtime_desired.is_(False), Account.runtime_status.in_(live),
        unheld(now, lease)))).all()


async def forget(s: AsyncSession, worker: str) -> None:
    """A process shutting down leaves the count of live ones at once."""
    await s.execute(delete(Worker).where(Worker.id == worker))


async def is_live(s: AsyncSession, worker: str, now: datetime, lease: float) -> bool:
    return await s.scalar(select(Worker.id).where(Worker.id == worker,
                                                  _live(now, lease))) is not None
