"""Claim due deliveries with a lease, and apply attempt outcomes.

Claiming is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``
(SQLite ignores the row-lock clause; its ``BEGIN IMMEDIATE`` serialises writers). A lease that
runs out (the process died mid-delivery) makes the delivery claimable again: at least once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

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
_EVENTS: Table = Event.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[assignment]
_TARGETS: Table = DeliveryTarget.__table__  # type: ignore[assignment]


def claim(
    conn: Connection, sink: str, target: str, limit: int, now: datetime, lease: timedelta
) -> list[Claim]:
    """Lease up to ``limit`` deliveries of ``target`` due at ``now`` (the sink's clock);
    leases run on wall-clock time."""
    d = _DELIVERIES.c
    wall = utcnow()
    due = (
        select(d.id)
        .where(
            d.sink == sink,
            d.target == target,
            d.status == PENDING,
            d.next_attempt_at <= now,
            or_(d.leased_until.is_(None), d.leased_until < wall),
        )
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    token = secrets.token_hex(8)
    rows = conn.execute(
        update(_DELIVERIES)
        .where(d.id.in_(due.scalar_subquery()))
        .values(leased_until=wall + lease, lease_token=token, attempts=d.attempts + 1,
                updated_at=wall)
        .returning(d.id, d.event_seq, d.attempts)
    ).all()
    return _claims(conn, target, token, rows) if rows else []


def _claims(conn: Connection, target: str, token: str, rows: Sequence[Row[Any]]) -> list[Claim]:
    """The claims for leased ``rows`` (id, event_seq, attempts), in delivery id order."""
    e = _EVENTS.c
    events = {
        ev.seq: ev
        for ev in conn.execute(
            select(e.seq, e.id, e.type, e.account_id, cast(e.data, Text).label("data"),
                   e.created_at)
            .where(e.seq.in_([r.event_seq for r in rows]))
        )
    }
    claims = []
    for r in sorted(rows, key=lambda r: r.id):
        ev = events[r.event_seq]
        claims.append(Claim(
            delivery_id=r.id, target=target, event_id=ev.id, event_type=ev.type,
            account_id=ev.account_id, body=_body(ev.type, ev.created_at, ev.data),
            attempt=r.attempts, token=token,
        ))
    return claims


def _body(type_: str, created_at: datetime, data: str | None) -> bytes:
    """The envelope's JSON with ``data`` spliced in as stored (already JSON text)."""
    return (f'{{"type":{json.dumps(type_)},"timestamp":"{iso(created_at)}",'
            f'"data":{data or "null"}}}').encode()


def complete(conn: Connection, sink: str, outcomes: Sequence[Outcome]) -> None:
    """Record each attempt; move each delivery whose lease is still held to its new status;
    keep each target's ``failing_since`` (cleared by a success, set by the first failure).

    Rows are locked targets first, in name order, then deliveries in id order, like every
    other writer here, so concurrent transactions on PostgreSQL cannot deadlock."""
    if not outcomes:
        return
    _mark_targets(conn, sink, outcomes)
    conn.execute(insert(_ATTEMPTS), [
        {"delivery_id": o.claim.delivery_id, "event_id": o.claim.event_id,
         "attempt": o.claim.attempt, "succeeded": o.result == "succeeded",
         "status_code": o.status_code, "error": _clip(o.error), "duration_ms": o.duration_ms,
         "at": o.at}
        for o in outcomes
    ])
    d = _DELIVERIES.c
    wall = utcnow()
    ordered = sorted(outcomes, key=lambda o: o.claim.delivery_id)
    succeeded = [o for o in ordered if o.result == "succeeded"]
    if succeeded:
        # Successes in one statement per lease (ids in order): no per-row parameters.
        by_token = sorted(succeeded, key=lambda o: (o.claim.token, o.claim.delivery_id))
        for token, group in groupby(by_token, key=lambda o: o.claim.token):
            conn.execute(
                update(_DELIVERIES)
                .where(d.lease_token == token,
                       d.id.in_([o.claim.delivery_id for o in group]))
                .values(status=SUCCEEDED, next_attempt_at=None, last_error=None,
                        leased_until=None, lease_token=None, updated_at=wall))
    others = [o for o in ordered if o.result != "succeeded"]
    if others:
        conn.execute(
            update(_DELIVERIES)
            .where(d.id == bindparam("b_id"), d.lease_token == bindparam("b_token"))
            .values(status=bindparam("b_status"), next_attempt_at=bindparam("b_next"),
                    last_error=bindparam("b_error"), leased_until=None, lease_token=None,
                    updated_at=wall),
            [{"b_id": o.claim.delivery_id, "b_token": o.claim.token,
              "b_status": _STATUS[o.result],
              "b_next": o.retry_at if o.result == "retry" else None,
              "b_error": _clip(o.error or _code(o))}
             for o in others])


def _mark_targets(conn: Connection, sink: str, outcomes: Sequence[Outcome]) -> None:
    """``failing_since``: cleared by a success in the batch, else set by the first failure."""
    ok: set[str] = set()
    failing: dict[str, datetime] = {}
    for o in outcomes:
        if o.result == "succeeded":
            ok.add(o.claim.target)
        else:
            failing[o.claim.target] = min(o.at, failing.get(o.claim.target, o.at))
    t = _TARGETS.c
    for name in sorted(ok | set(failing)):
        if name in ok:
            conn.execute(update(_TARGETS)
                         .where(t.sink == sink, t.name == name, t.failing_since.is_not(None))
                         .values(failing_since=None))
        else:
            conn.execute(update(_TARGETS)
                         .where(t.sink == sink, t.name == name)
                         .values(failing_since=func.coalesce(
                             t.failing_since, literal(failing[name], UTCDateTime()))))


def release(conn: Connection, claims: Sequence[Claim]) -> None:
    """Give leases back unattempted (shutdown): the deliveries are due again at once.
    One executemany, in id order (like every writer of deliveries here)."""
    if not claims:
        return
    d = _DELIVERIES.c
    conn.execute(
        update(_DELIVERIES)
        .where(d.id == bindparam("b_id"), d.lease_token == bindparam("b_token"))
        .values(leased_until=None, lease_token=None, attempts=d.attempts - 1),
        [{"b_id": c.delivery_id, "b_token": c.token}
         for c in sorted(claims, key=lambda c: c.delivery_id)],
    )


def _code(o: Outcome) -> str:
    return f"HTTP {o.status_code}" if o.status_code is not None else "error"


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:500]
