"""Operator actions on deliveries: target state, enable/disable, recover, redeliver, history."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.models import Event
from unifyport.db.types import utcnow
from unifyport.delivery.models import (
    FAILED,
    PENDING,
    SUCCEEDED,
    Delivery,
    DeliveryAttempt,
    DeliveryTarget,
)
from unifyport.delivery.patterns import TARGETED_TYPES, matches
from unifyport.events.sinks import TargetState, iso

DUE_AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)
"""``next_attempt_at`` of a redelivery: earlier than any clock (shown as its queue time)."""
_REQUEUE = {"status": PENDING, "attempts": 0, "leased_until": None, "lease_token": None,
            "last_error": None, "succeeded_at": None, "succeeded_status_code": None,
            "succeeded_duration_ms": None}


async def target_states(s: AsyncSession, sink: str, counts: bool = True) -> list[TargetState]:
    """Targets of ``sink`` by name; delivery counts are 0 unless ``counts``."""
    by_status: dict[tuple[str, str], int] = {} if not counts else {
        (r.target, r.status): r.n
        for r in await s.execute(
            select(Delivery.target, Delivery.status, func.count().label("n"))
            .where(Delivery.sink == sink)
            .group_by(Delivery.target, Delivery.status)
        )
    }
    rows = await s.scalars(
        select(DeliveryTarget).where(DeliveryTarget.sink == sink).order_by(DeliveryTarget.name)
    )
    return [
        TargetState(
            name=t.name, patterns=tuple(t.patterns), enabled=t.enabled,
            disabled_reason=t.disabled_reason, disabled_at=t.disabled_at,
            failing_since=t.failing_since, pending=by_status.get((t.name, PENDING), 0),
            failed=by_status.get((t.name, FAILED), 0),
            succeeded=by_status.get((t.name, SUCCEEDED), 0),
        )
        for t in rows
    ]


async def set_enabled(
    s: AsyncSession, sink: str, target: str, enabled: bool, reason: str | None = None
) -> bool:
    """Enable (clearing ``failing_since``) or disable a target; disabling fails its pending
    deliveries (``recover`` requeues them). False when the target does not exist."""
    values: dict[str, Any] = (
        {"enabled": True, "disabled_reason": None, "disabled_at": None, "failing_since": None}
        if enabled else {"enabled": False, "disabled_reason": reason, "disabled_at": utcnow()}
    )
    result = await s.execute(
        update(DeliveryTarget)
        .where(DeliveryTarget.sink == sink, DeliveryTarget.name == target)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if not enabled:
        await s.execute(
            update(Delivery)
            .where(Delivery.sink == sink, Delivery.target == target, Delivery.status == PENDING,
                   Delivery.lease_token.is_(None))
            .values(status=FAILED, next_attempt_at=None, updated_at=utcnow(),
                    last_error=f"target disabled: {reason}"[:500])
        )
    return True


async def recover(
    s: AsyncSession, sink: str, target: str, since: datetime, now: datetime
) -> int:
    """Requeue every failed delivery of ``target`` whose event was created at or after
    ``since``; returns how many."""
    seqs = select(Event.seq).where(Event.created_at >= since).scalar_subquery()
    result = await s.execute(
        update(Delivery)
        .where(Delivery.sink == sink, Delivery.target == target, Delivery.status == FAILED,
               Delivery.event_seq.in_(seqs))
        .values(**_REQUEUE, next_attempt_at=now, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def redeliver(
    s: AsyncSession, ev: Event, sink: str | None = None, target: str | None = None,
    visible: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Queue ``ev`` again for every target whose patterns and accounts match it (optionally
    one sink or target; only ``visible`` targets when given), creating the delivery when the
    target never had it. Returns what was queued. A targeted event (``webhook.test``) goes
    only to the target named. The delivery is due at once, whatever a sink's clock says
    (:data:`DUE_AT_ONCE`)."""
    now = DUE_AT_ONCE
    q = select(DeliveryTarget).order_by(DeliveryTarget.sink, DeliveryTarget.name)
    if sink is not None:
        q = q.where(DeliveryTarget.sink == sink)
    if target is not None:
        q = q.where(DeliveryTarget.name == target)
    queued: list[dict[str, Any]] = []
    stamp = utcnow()
    for t in await s.scalars(q.with_for_update()):
        if ev.type in TARGETED_TYPES:
            if target is None:
                continue
        elif not matches(t.patterns, ev.type) or (
                t.account_ids is not None and ev.account_id not in t.account_ids):
            continue
        if visible is not None and t.name not in visible:
            continue
        row = (await s.scalars(select(Delivery).where(
            Delivery.sink == t.sink, Delivery.target == t.name, Delivery.event_seq == ev.seq
        ))).first()
        if row is None:
            s.add(Delivery(sink=t.sink, target=t.name, event_seq=ev.seq, event_id=ev.id,
                           **_REQUEUE, next_attempt_at=now, created_at=stamp, updated_at=stamp))
        else:
            if row.succeeded_at is not None:  # keep the earlier success in the log
                s.add(_success_attempt(row))
            for key, value in _REQUEUE.items():
                setattr(row, key, value)
            row.next_attempt_at, row.updated_at = now, stamp
        queued.append({"sink": t.sink, "endpoint": t.name, "enabled": t.enabled})
    return queued


async def drop_target(s: AsyncSession, sink: str, target: str) -> int:
    """Delete ``target`` with its deliveries (their attempts go with them), leased ones too:
    an outcome arriving later finds no row to update. Returns how many were pending.

    The target row is locked first, as every writer of deliveries does (fan-out, outcomes),
    so this cannot deadlock with them on PostgreSQL."""
    await s.execute(select(DeliveryTarget.name).where(
        DeliveryTarget.sink == sink, DeliveryTarget.name == target).with_for_update())
    pending = await s.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.sink == sink, Delivery.target == target, Delivery.status == PENDING))
    await s.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(
        select(Delivery.id).where(Delivery.sink == sink, Delivery.target == target))))
    await s.execute(delete(Delivery).where(Delivery.sink == sink, Delivery.target == target))
    await s.execute(delete(DeliveryTarget).where(DeliveryTarget.sink == sink,
                                                 DeliveryTarget.name == target))
    return int(pending or 0)


async def deliveries_json(s: AsyncSession, ev: Event, visible: Collection[str] | None = None
                          ) -> list[dict[str, Any]]:
    """The deliveries of one event (only to ``visible`` targets when given), each with its
    attempts (oldest first)."""
    deliveries = [d for d in await s.scalars(
        select(Delivery).where(Delivery.event_seq == ev.seq)
        .order_by(Delivery.sink, Delivery.target)
    ) if visible is None or d.target in visible]
    attempts: dict[int, list[DeliveryAttempt]] = {}
    if deliveries:
        for a in await s.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(DeliveryAttempt.id)
        ):
            attempts.setdefault(a.delivery_id, []).append(a)
    return [
        {
            "sink": d.sink, "endpoint": d.target, "status": d.status,
            "next_attempt_at": iso(max(d.next_attempt_at, d.updated_at))
            if d.status == PENDING and d.next_attempt_at is not None else None,
            "last_error": d.last_error,
            "attempts": [_attempt_json(a) for a in attempts.get(d.id, [])] + (
                [_attempt_json(_success_attempt(d))] if d.succeeded_at is not None else []),
        }
        for d in deliveries
    ]


def _success_attempt(d: Delivery) -> DeliveryAttempt:
    """The successful attempt stored on ``d`` (the last one it had), as an attempt row."""
    assert d.succeeded_at is not None and d.succeeded_duration_ms is not None
    return DeliveryAttempt(delivery_id=d.id, event_id=d.event_id, attempt=d.attempts,
                           succeeded=True, status_code=d.succeeded_status_code, error=None,
                           duration_ms=d.succeeded_duration_ms, at=d.succeeded_at)


def _attempt_json(a: DeliveryAttempt) -> dict[str, Any]:
    return {"attempt": a.attempt, "at": iso(a.at), "succeeded": a.succeeded,
            "status_code": a.status_code, "error": a.error, "duration_ms": a.duration_ms}

