"""How the online accounts are shared between the live ``serve`` processes.

Each process renews, in one transaction: its own row in ``runtime_workers`` (seen now), the
leases of the accounts it runs, and claims orphaned accounts (no owner, or the owner's lease
ran out) — but only up to its *share*, ``ceil(desired-online accounts / live processes)``, a
process being live while it was seen within a lease period. A process holding more than its
share (another process started or came back) hands the excess over: it stops those clients
and clears their owner, and a process below its share claims them at its next renewal.
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


def _claimable(providers: list[str], now: datetime) -> ColumnElement[bool]:
    return and_(Account.runtime_desired.is_(True), Account.status == AUTHORIZED,
                Account.provider.in_(providers),
                or_(Account.runtime_owner.is_(None), Account.runtime_lease_until < now))


async def beat(s: AsyncSession, worker: str, now: datetime, lease: float) -> int:
    """Record that ``worker`` is alive now; the number of live processes (itself included)."""
    seen = await s.execute(update(Worker).where(Worker.id == worker).values(seen_at=now))
    if not seen.rowcount:  # type: ignore[attr-defined]
        s.add(Worker(id=worker, host=socket.gethostname()[:255], pid=os.getpid(),
                     started_at=now, seen_at=now))
        await s.execute(delete(Worker).where(Worker.seen_at < now - FORGET_WORKERS))
        await s.flush()
    live = await s.scalar(select(func.count()).select_from(Worker).where(
        Worker.seen_at >= now - timedelta(seconds=lease)))
    return max(int(live or 0), 1)


async def renew_and_claim(s: AsyncSession, worker: str, now: datetime, lease: float,
                          providers: list[str]) -> tuple[int, datetime | None]:
    """Renew ``worker``'s leases and claim orphans up to its share; returns the share and
    when the first lease of another process runs out (a process that died lets them all run
    out: the others look again then)."""
    live = await beat(s, worker, now, lease)
    until = now + timedelta(seconds=lease)
    values: dict[str, Any] = {"runtime_owner": worker, "runtime_lease_until": until}
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
        orphans = (select(Account.id).where(_claimable(providers, now))
                   .order_by(Account.id).limit(share - held)
                   .with_for_update(skip_locked=True))
        await s.execute(update(Account)
                        .where(Account.id.in_(orphans.scalar_subquery()),
                               _claimable(providers, now))
                        .values(**values).execution_options(synchronize_session=False))
    expiry = await s.scalar(select(func.min(Account.runtime_lease_until)).where(
        Account.runtime_owner != worker, Account.runtime_desired.is_(True),
        Account.provider.in_(providers), Account.runtime_lease_until > now))
    return share, expiry


async def claim(s: AsyncSession, worker: str, account_id: str, now: datetime, lease: float,
                providers: list[str]) -> bool:
    """Claim (or renew) one desired-online account for ``worker`` when nobody else holds
    a live lease on it: what a ``runtime/start`` needs, one row however many accounts the
    process runs (the others' leases are the renewal loop's). The account may put the
    process above its share; the next renewal hands the excess over."""
    result = await s.execute(
        update(Account).where(Account.id == account_id, or_(_claimable(providers, now), and_(
            Account.runtime_owner == worker, Account.runtime_desired.is_(True))))
        .values(runtime_owner=worker, runtime_lease_until=now + timedelta(seconds=lease))
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def next_look(expiry: datetime | None, renew_every: float) -> float:
    """Seconds until the next renewal: ``renew_every``, or sooner when another process's
    lease runs out before (then its accounts are taken over without waiting a renewal)."""
    if expiry is None:
        return renew_every
    return min(renew_every, max(0.05, (expiry - utcnow()).total_seconds() + 0.05))


async def stale_statuses(s: AsyncSession, now: datetime) -> Sequence[str]:
    """Accounts that should be offline and that no live process holds, whose stored status
    says otherwise (a crash between a stop and its status write)."""
    live = [st.value for st in (RuntimeStatus.STARTING, RuntimeStatus.RUNNING,
                                RuntimeStatus.RECONNECTING)]
    return (await s.scalars(select(Account.id).where(
        Account.runtime_desired.is_(False), Account.runtime_status.in_(live),
        or_(Account.runtime_owner.is_(None), Account.runtime_lease_until < now)))).all()


async def forget(s: AsyncSession, worker: str) -> None:
    """A process shutting down leaves the count of live ones at once."""
    await s.execute(delete(Worker).where(Worker.id == worker))


async def is_live(s: AsyncSession, worker: str, now: datetime, lease: float) -> bool:
    seen = await s.scalar(select(Worker.seen_at).where(Worker.id == worker))
    return seen is not None and seen >= now - timedelta(seconds=lease)
