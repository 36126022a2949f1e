"""Claim due deliveries with a lease, and apply attempt outcomes.

Claiming is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``
(SQLite ignores the row-lock clause; its ``BEGIN IMMEDIATE`` serialises writers). A lease that
runs out (the process died mid-delivery) makes the delivery claimable again: at least once.

The statements are built once, with bound parameters: building them per call cost more than
running them. Three differ by dialect: on PostgreSQL the claim reads its events in the same
statement (an ``UPDATE`` in a CTE; one round trip), and batches of rows go as column arrays
(one prepared statement, not one per batch size or per row); on SQLite a batch of successes
goes as one JSON array. The functions are synchronous: the queue runs them through
``Database.run``.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Dialect,
    Integer,
    Table,
    Text,
    Update,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from unifyport.db.types import UTCDateTime, utcnow
from unifyport.delivery.models import (
    ATTEMPTS,
    DELIVERIES,
    EVENTS,
    FAILED,
    PENDING,
    SUCCEEDED,
    TARGETS,
)
from unifyport.delivery.types import Outcome
from unifyport.events.sinks import Claim, iso

_STATUS = {"succeeded": SUCCEEDED, "retry": PENDING, "failed": FAILED}
_d, _e, _t = DELIVERIES.c, EVENTS.c, TARGETS.c

_DUE_AND_FREE = (
    _d.status == PENDING,
    _d.next_attempt_at <= bindparam("b_now", type_=UTCDateTime()),
    or_(_d.leased_until.is_(None), _d.leased_until < bindparam("b_wall", type_=UTCDateTime())),
)
"""Due at the sink's ``b_now`` and not leased at wall-clock ``b_wall``."""
_CLAIM = (
    update(DELIVERIES)
    .where(_d.id.in_(
        select(_d.id)
        .where(_d.sink == bindparam("b_sink"), _d.target == bindparam("b_target"),
               *_DUE_AND_FREE)
        .order_by(_d.next_attempt_at)  # the index's order: no sort of the whole backlog
        .limit(bindparam("b_limit", type_=Integer()))
        .with_for_update(skip_locked=True)
        .scalar_subquery()))
    .values(leased_until=bindparam("b_until", type_=UTCDateTime()),
            lease_token=bindparam("b_token"), attempts=_d.attempts + 1,
            updated_at=bindparam("b_wall", type_=UTCDateTime()))
    .returning(_d.id, _d.event_seq, _d.attempts)
)
_DUE_TARGETS = select(_d.target).distinct().where(_d.sink == bindparam("b_sink"), *_DUE_AND_FREE)
_EVENT_COLUMNS = (_e.id.label("event_id"), _e.type, _e.account_id,
                  cast(_e.data, Text).label("data"), _e.created_at)
_EVENTS_BY_SEQ = select(_e.seq, *_EVENT_COLUMNS).where(
    _e.seq.in_(bindparam("seqs", expanding=True)))
_CLAIMED = _CLAIM.cte("claimed")
_CLAIM_WITH_EVENTS = select(_CLAIMED.c.id, _CLAIMED.c.attempts, *_EVENT_COLUMNS).select_from(
    _CLAIMED.join(EVENTS, _e.seq == _CLAIMED.c.event_seq))
"""PostgreSQL: the claim and its events in one statement (one round trip, a stable text the
driver keeps prepared); SQLite cannot put an UPDATE in a CTE and has no round trips."""


def _unnested(table: Table, fields: Sequence[str]) -> list[Any]:
    """PostgreSQL: one column per field from array parameters ``b_<field>`` (see
    :func:`_arrays`): a batch of rows in one prepared statement."""
    return list(func.unnest(*(
        bindparam(f"b_{name}", type_=postgresql.ARRAY(table.c[name].type)) for name in fields
    )).table_valued(*fields).render_derived().c)


def _arrays(fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """The parameters of :func:`_unnested` for ``rows`` (one value per field)."""
    return {f"b_{name}": list(column)
            for name, column in zip(fields, zip(*rows, strict=True), strict=True)}


_ATTEMPT_FIELDS = ("delivery_id", "event_id", "attempt", "succeeded", "status_code", "error",
                   "duration_ms", "at")
_RECORD_ATTEMPTS = {
    # PostgreSQL: one statement over column arrays instead of a statement per row.
    "postgresql": insert(ATTEMPTS).from_select(
        list(_ATTEMPT_FIELDS), select(*_unnested(ATTEMPTS, _ATTEMPT_FIELDS))),
    "sqlite": insert(ATTEMPTS),
}
_SUCCESS_FIELDS = ("id", "lease_token", "succeeded_at", "succeeded_status_code",
                   "succeeded_duration_ms")
"""Per success: its row (id and lease), then what is stored on it."""


def _store_successes(columns: Sequence[Any]) -> Update:
    """UPDATE the rows named by the first two ``columns`` (one per field) with the rest."""
    delivery_id, token, *stored = columns
    return (update(DELIVERIES)
            .where(_d.id == delivery_id, _d.lease_token == token)
            .values(status=SUCCEEDED, next_attempt_at=None, last_error=None,
                    leased_until=None, lease_token=None,
                    updated_at=bindparam("b_wall", type_=UTCDateTime()),
                    **dict(zip(_SUCCESS_FIELDS[2:], stored, strict=True)))
            .returning(_d.id))


_JSON_ROWS = func.json_each(bindparam("b_rows")).table_valued("value")
_SUCCEEDED = {
    # PostgreSQL: the batch as column arrays; SQLite: as one JSON array of rows (an
    # executemany of per-row UPDATEs cost more than the attempt rows it replaces).
    "postgresql": _store_successes(_unnested(DELIVERIES, _SUCCESS_FIELDS)),
    "sqlite": _store_successes([func.json_extract(_JSON_ROWS.c.value, f"$[{i}]")
                                for i in range(len(_SUCCESS_FIELDS))]),
}
"""A success is stored on the delivery row (no attempt row): one write fewer per event.
Returns the ids updated: a success whose lease was lost gets an attempt row instead."""
_SETTLED = (
    update(DELIVERIES)
    .where(_d.id == bindparam("b_id"), _d.lease_token == bindparam("b_token"))
    .values(status=bindparam("b_status"),
            next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
            last_error=bindparam("b_error"), leased_until=None, lease_token=None,
            updated_at=bindparam("b_wall", type_=UTCDateTime()))
)
_RELEASE = (
    update(DELIVERIES)
    .where(_d.id == bindparam("b_id"), _d.lease_token == bindparam("b_token"))
    .values(leased_until=None, lease_token=None, attempts=_d.attempts - 1)
)
_TARGET_OK = (
    update(TARGETS)
    .where(_t.sink == bindparam("b_sink"), _t.name == bindparam("b_name"),
           _t.failing_since.is_not(None))
    .values(failing_since=None)
)
_TARGET_FAILING = (
    update(TARGETS)
    .where(_t.sink == bindparam("b_sink"), _t.name == bindparam("b_name"))
    .values(failing_since=func.coalesce(_t.failing_since,
                                        bindparam("b_since", type_=UTCDateTime())))
)


def claim(
    conn: Connection, sink: str, target: str, limit: int, now: datetime, lease: timedelta
) -> list[Claim]:
    """Lease up to ``limit`` deliveries of ``target`` due at ``now`` (the sink's clock);
    leases run on wall-clock time. Claims come in delivery id order."""
    wall = utcnow()
    token = secrets.token_hex(8)
    params = {"b_sink": sink, "b_target": target, "b_now": now, "b_wall": wall,
              "b_limit": limit, "b_until": wall + lease, "b_token": token}
    if conn.dialect.name == "postgresql":
        rows: Sequence[Any] = conn.execute(_CLAIM_WITH_EVENTS, params).all()
    else:
        rows = _with_events(conn, conn.execute(_CLAIM, params).all())
    return [
        Claim(delivery_id=r.id, target=target, event_id=r.event_id, event_type=r.type,
              account_id=r.account_id, body=_body(r.type, r.created_at, r.data),
              attempt=r.attempts, token=token)
        for r in sorted(rows, key=lambda r: r.id)
    ]


def due_targets(conn: Connection, sink: str, now: datetime) -> set[str]:
    """Targets with a delivery due at ``now`` and not leased."""
    return set(conn.scalars(_DUE_TARGETS, {"b_sink": sink, "b_now": now, "b_wall": utcnow()}))


def _with_events(conn: Connection, rows: Sequence[Any]) -> list[_Claimed]:
    """Leased delivery ``rows`` (``id``, ``event_seq``, ``attempts``) with their events."""
    if not rows:
        return []
    events = {ev.seq: ev for ev in conn.execute(
        _EVENTS_BY_SEQ, {"seqs": [r.event_seq for r in rows]})}
    return [_Claimed(r.id, r.attempts, *events[r.event_seq][1:]) for r in rows]


class _Claimed(NamedTuple):
    id: int
    attempts: int
    event_id: str
    type: str
    account_id: str | None
    data: str | None
    created_at: datetime


def _body(type_: str, created_at: datetime, data: str | None) -> bytes:
    """The envelope's JSON with ``data`` spliced in as stored (already JSON text)."""
    return (f'{{"type":{json.dumps(type_)},"timestamp":"{iso(created_at)}",'
            f'"data":{data or "null"}}}').encode()


def complete(conn: Connection, sink: str, outcomes: Sequence[Outcome],
             failing: Collection[str] | None = None) -> None:
    """Record each attempt (a success on its delivery row, any other outcome as an attempt
    row); move each delivery whose lease is still held to its new status;
    keep each target's ``failing_since`` (cleared by a success, set by the first failure;
    ``failing`` names the targets that may have it set, None when unknown).

    Rows are locked targets first, in name order, then deliveries in id order, like every
    other writer here, so concurrent transactions on PostgreSQL cannot deadlock."""
    if not outcomes:
        return
    _mark_targets(conn, sink, outcomes, failing)
    wall = utcnow()
    ordered = sorted(outcomes, key=lambda o: o.claim.delivery_id)
    succeeded = [o for o in ordered if o.result == "succeeded"]
    stored: set[int] = set()
    if succeeded:
        rows = [(o.claim.delivery_id, o.claim.token, o.at, o.status_code, o.duration_ms)
                for o in succeeded]
        if conn.dialect.name == "postgresql":
            params: dict[str, Any] = _arrays(_SUCCESS_FIELDS, rows)
        else:
            as_stored = _stored_time(conn.dialect)
            params = {"b_rows": json.dumps([(i, token, as_stored(at), code, ms)
                                            for i, token, at, code, ms in rows])}
        stored = set(conn.scalars(_SUCCEEDED[conn.dialect.name], {"b_wall": wall, **params}))
    others = [o for o in ordered if o.result != "succeeded"]
    # The log keeps every attempt: also a success whose lease another worker took meanwhile.
    unstored = [o for o in ordered if o.claim.delivery_id not in stored]
    if unstored:
        _record_attempts(conn, unstored)
    if others:
        conn.execute(_SETTLED, [
            {"b_id": o.claim.delivery_id, "b_token": o.claim.token,
             "b_status": _STATUS[o.result], "b_wall": wall,
             "b_next": o.retry_at if o.result == "retry" else None,
             "b_error": _clip(o.error or _code(o))}
            for o in others])


@functools.cache
def _stored_time(dialect: Dialect) -> Callable[[datetime], Any]:
    """A datetime as ``dialect`` stores it (for values passed inside JSON)."""
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else lambda value: value


def _record_attempts(conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """Attempt rows for ``outcomes`` (a success has one only if its lease was lost)."""
    rows = [(o.claim.delivery_id, o.claim.event_id, o.claim.attempt, o.result == "succeeded",
             o.status_code, _clip(o.error), o.duration_ms, o.at) for o in outcomes]
    if conn.dialect.name == "postgresql":
        conn.execute(_RECORD_ATTEMPTS["postgresql"], _arrays(_ATTEMPT_FIELDS, rows))
    else:
        conn.execute(_RECORD_ATTEMPTS["sqlite"], [dict(zip(_ATTEMPT_FIELDS, r, strict=True))
                                                  for r in rows])


def _mark_targets(conn: Connection, sink: str, outcomes: Sequence[Outcome],
                  maybe_failing: Collection[str] | None) -> None:
    """``failing_since``: cleared by a success in the batch (where it may be set), else set
    by the first failure."""
    ok: set[str] = set()
    failing: dict[str, datetime] = {}
    for o in outcomes:
        if o.result == "succeeded":
            ok.add(o.claim.target)
        else:
            failing[o.claim.target] = min(o.at, failing.get(o.claim.target, o.at))
    for name in sorted(ok | set(failing)):
        if name in ok:
            if maybe_failing is None or name in maybe_failing:
                conn.execute(_TARGET_OK, {"b_sink": sink, "b_name": name})
        else:
            conn.execute(_TARGET_FAILING,
                         {"b_sink": sink, "b_name": name, "b_since": failing[name]})


def release(conn: Connection, claims: Sequence[Claim]) -> None:
    """Give leases back unattempted (shutdown): the deliveries are due again at once.
    One executemany, in id order (like every writer of deliveries here)."""
    if claims:
        conn.execute(_RELEASE, [{"b_id": c.delivery_id, "b_token": c.token}
                                for c in sorted(claims, key=lambda c: c.delivery_id)])


def _code(o: Outcome) -> str:
    return f"HTTP {o.status_code}" if o.status_code is not None else "error"


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:500]
