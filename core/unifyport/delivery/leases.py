"""Claim due deliveries with a lease, and apply attempt outcomes.

Claiming is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``
(SQLite ignores the row-lock clause; its ``BEGIN IMMEDIATE`` serialises writers). A lease that
runs out (the process died mid-delivery) makes the delivery claimable again: at least once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts.views import iso
from unifyport.db.models import Event
from unifyport.db.types import UTCDateTime, utcnow
from unifyport.delivery.models import (
    FAILED,
    PENDING,
    SUCCEEDED,
    Delivery,
    DeliveryAttempt,
    DeliveryTarget,
)
from unifyport.delivery.types import Claim, Outcome

_STATUS = {"succeeded": SUCCEEDED, "retry": PENDING, "failed": FAILED}


async def claim(
    s: AsyncSession, sink: str, target: str, limit: int, now: datetime, lease: timedelta
) -> list[Claim]:
    """Lease up to ``limit`` deliveries of ``target`` due at ``now`` (the sink's clock);
    leases run on wall-clock time."""
    wall = utcnow()
    due = (
        select(Delivery.id)
        .where(
            Delivery.sink == sink,
            Delivery.target == target,
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.leased_until.is_(None), Delivery.leased_until < wall),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    token = secrets.token_hex(8)
    rows = (
        await s.execute(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(leased_until=wall + lease, lease_token=token,
                    attempts=Delivery.attempts + 1, updated_at=wall)
            .returning(Delivery.id, Delivery.event_seq, Delivery.attempts)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not rows:
        return []
    events = {
        ev.seq: ev
        for ev in await s.execute(
            select(Event.seq, Event.id, Event.type, Event.account_id, Event.data,
                   Event.created_at).where(Event.seq.in_([r.event_seq for r in rows]))
        )
    }
    claims = []
    for r in rows:
        ev = events[r.event_seq]
        claims.append(Claim(
            delivery_id=r.id, target=target, event_id=ev.id, event_type=ev.type,
            account_id=ev.account_id,
            envelope={"type": ev.type, "timestamp": iso(ev.created_at), "data": ev.data},
            attempt=r.attempts, token=token,
        ))
    claims.sort(key=lambda c: c.delivery_id)
    return claims


async def complete(s: AsyncSession, sink: str, outcomes: Sequence[Outcome]) -> None:
    """Record each attempt; move each delivery whose lease is still held to its new status;
    keep each target's ``failing_since`` (cleared by a success, set by the first failure).

    Rows are locked targets first, in name order, then deliveries, like every other writer
    here, so concurrent transactions on PostgreSQL cannot deadlock."""
    if not outcomes:
        return
    ok: set[str] = set()
    failing: dict[str, datetime] = {}
    for o in outcomes:
        if o.result == "succeeded":
            ok.add(o.claim.target)
        else:
            failing[o.claim.target] = min(o.at, failing.get(o.claim.target, o.at))
    for name in sorted(ok | set(failing)):
        if name in ok:
            await s.execute(update(DeliveryTarget)
                            .where(DeliveryTarget.sink == sink, DeliveryTarget.name == name,
                                   DeliveryTarget.failing_since.is_not(None))
                            .values(failing_since=None))
        else:
            await s.execute(update(DeliveryTarget)
                            .where(DeliveryTarget.sink == sink, DeliveryTarget.name == name)
                            .values(failing_since=func.coalesce(
                                DeliveryTarget.failing_since,
                                literal(failing[name], UTCDateTime()))))
    await s.execute(insert(DeliveryAttempt), [
        {"delivery_id": o.claim.delivery_id, "event_id": o.claim.event_id,
         "attempt": o.claim.attempt, "succeeded": o.result == "succeeded",
         "status_code": o.status_code, "error": _clip(o.error), "duration_ms": o.duration_ms,
         "at": o.at}
        for o in outcomes
    ])
    wall = utcnow()
    table = cast(Table, Delivery.__table__)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.lease_token == bindparam("b_token"))
        .values(status=bindparam("b_status"), next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"), leased_until=None, lease_token=None,
                updated_at=wall)
    )
    await s.execute(stmt, [
        {"b_id": o.claim.delivery_id, "b_token": o.claim.token, "b_status": _STATUS[o.result],
         "b_next": o.retry_at if o.result == "retry" else None,
         "b_error": None if o.result == "succeeded" else _clip(o.error or _code(o))}
        for o in sorted(outcomes, key=lambda o: o.claim.delivery_id)
    ])


async def release(s: AsyncSession, claims: Sequence[Claim]) -> None:
    """Give leases back unattempted (shutdown): the deliveries are due again at once.
    One executemany, in id order (like every writer of deliveries here)."""
    if not claims:
        return
    table = cast(Table, Delivery.__table__)
    await s.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.lease_token == bindparam("b_token"))
        .values(leased_until=None, lease_token=None, attempts=table.c.attempts - 1),
        [{"b_id": c.delivery_id, "b_token": c.token}
         for c in sorted(claims, key=lambda c: c.delivery_id)],
    )


def _code(o: Outcome) -> str:
    return f"HTTP {o.status_code}" if o.status_code is not None else "error"


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:500]
