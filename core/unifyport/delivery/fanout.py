"""Fan-out: turn new outbox events into one delivery row per matching target.

Each target keeps a cursor (``cursor_seq``). A pass locks the sink's target rows (``FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), reads the
events after the lowest cursor and inserts the missing deliveries. On PostgreSQL a sequence
value can commit after a higher one, so a cursor stops before a gap in ``seq`` until the gap
fills or the event after it is :data:`GAP_GRACE` old (a rolled-back transaction leaves a gap
for ever); events past the gap are inserted already and skipped on the next pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.models import Event
from unifyport.db.types import utcnow
from unifyport.delivery.models import FAILED, PENDING, Delivery, DeliveryTarget
from unifyport.delivery.patterns import matches
from unifyport.delivery.types import Target

GAP_GRACE = timedelta(seconds=30)
BATCH = 1000


async def sync_targets(s: AsyncSession, sink: str, targets: Sequence[Target]) -> None:
    """Create missing target rows (new targets start after the newest event) and store the
    patterns of existing ones."""
    newest = await newest_seq(s)
    rows = {
        r.name: r
        for r in await s.scalars(
            select(DeliveryTarget).where(DeliveryTarget.sink == sink)
            .order_by(DeliveryTarget.name).with_for_update()
        )
    }
    for t in targets:
        row = rows.get(t.name)
        if row is None:
            s.add(DeliveryTarget(sink=sink, name=t.name, patterns=list(t.patterns),
                                 enabled=True, cursor_seq=newest, created_at=utcnow()))
        elif list(row.patterns) != list(t.patterns):
            row.patterns = list(t.patterns)


async def newest_seq(s: AsyncSession) -> int:
    """The highest event ``seq`` (0 when there is none)."""
    return (await s.scalar(select(func.max(Event.seq)))) or 0


async def fan_out(
    s: AsyncSession, sink: str, names: Sequence[str], now: datetime
) -> tuple[int, int]:
    """One pass in the caller's write transaction: (deliveries inserted, lowest cursor after)."""
    targets = list(
        await s.scalars(
            select(DeliveryTarget)
            .where(DeliveryTarget.sink == sink, DeliveryTarget.name.in_(names))
            .order_by(DeliveryTarget.name)
            .with_for_update()
        )
    )
    if not targets:
        return 0, 0
    low = min(t.cursor_seq for t in targets)
    events = (
        await s.execute(
            select(Event.seq, Event.id, Event.type, Event.created_at)
            .where(Event.seq > low)
            .order_by(Event.seq)
            .limit(BATCH)
        )
    ).all()
    if not events:
        return 0, low
    existing = set(
        (
            await s.execute(
                select(Delivery.target, Delivery.event_seq).where(
                    Delivery.sink == sink,
                    Delivery.target.in_([t.name for t in targets]),
                    Delivery.event_seq > low,
                    Delivery.event_seq <= events[-1].seq,
                )
            )
        ).all()
    )
    seqs = [(e.seq, e.created_at) for e in events]
    rows: list[dict[str, object]] = []
    stamp = utcnow()
    for t in targets:
        for ev in events:
            if ev.seq <= t.cursor_seq or (t.name, ev.seq) in existing:
                continue
            if not matches(t.patterns, ev.type):
                continue
            rows.append({
                "sink": sink, "target": t.name, "event_seq": ev.seq, "event_id": ev.id,
                "status": PENDING if t.enabled else FAILED, "attempts": 0,
                "next_attempt_at": now if t.enabled else None,
                "last_error": None if t.enabled else "target disabled",
                "created_at": stamp, "updated_at": stamp,
            })
        t.cursor_seq = _advance(t.cursor_seq, seqs, stamp)
    if rows:
        await s.execute(insert(Delivery), rows)
    return len(rows), min(t.cursor_seq for t in targets)


def _advance(cursor: int, events: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """The highest seq up to which no event can still appear (see the module doc)."""
    for seq, created_at in events:
        if seq <= cursor:
            continue
        if seq != cursor + 1 and created_at > now - GAP_GRACE:
            break
        cursor = seq
    return cursor
