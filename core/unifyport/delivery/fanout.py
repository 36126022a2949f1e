"""Fan-out: turn new outbox events into one delivery row per matching target.

Each target keeps a cursor (``cursor_seq``). A pass locks the sink's target rows (``FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), reads the
sequence numbers after the lowest cursor and, per target, inserts the missing deliveries with
one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` (patterns matched in SQL, no row passes
through Python). On PostgreSQL a sequence value can commit after a higher one, so a cursor
stops before a gap in ``seq`` until the gap fills or the event after it is :data:`GAP_GRACE`
old (a rolled-back transaction leaves a gap for ever); events past the gap are inserted
already and skipped on the next pass.

These functions are synchronous: the queue runs them through ``Database.run``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    Insert,
    String,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from unifyport.db.types import UTCDateTime, utcnow
from unifyport.delivery.models import DELIVERIES, EVENTS, FAILED, PENDING, TARGETS
from unifyport.delivery.patterns import TARGETED_TYPES, sql_filter
from unifyport.events.sinks import Target

GAP_GRACE = timedelta(seconds=30)
BATCH = 1000

_INSERTED = ("sink", "target", "event_seq", "event_id", "status", "attempts",
             "next_attempt_at", "last_error", "created_at", "updated_at")
_e, _d, _t = EVENTS.c, DELIVERIES.c, TARGETS.c
_NEWEST = select(func.max(_e.seq))
_LOCK_TARGETS = (
    select(_t.name, _t.patterns, _t.account_ids, _t.enabled, _t.cursor_seq)
    .where(_t.sink == bindparam("sink"), _t.name.in_(bindparam("names", expanding=True)))
    .order_by(_t.name)
    .with_for_update()
)
_SCAN = select(_e.seq).where(_e.seq > bindparam("after")).order_by(_e.seq).limit(BATCH)
_SET_CURSOR = (
    update(TARGETS).where(_t.sink == bindparam("b_sink"), _t.name == bindparam("b_name"))
    .values(cursor_seq=bindparam("b_cursor"))
)
_CREATED_AT = select(_e.created_at).where(_e.seq == bindparam("seq"))


def sync_targets(conn: Connection, sink: str, targets: Sequence[Target],
                 start: int | None = None) -> None:
    """Create missing target rows (new targets start after event ``start``, by default the
    newest) and store the patterns of existing ones."""
    newest = newest_seq(conn) if start is None else start
    stored = {
        r.name: (list(r.patterns), r.account_ids)
        for r in conn.execute(
            select(_t.name, _t.patterns, _t.account_ids).where(_t.sink == sink)
            .order_by(_t.name).with_for_update()
        )
    }
    for target in targets:
        patterns = list(target.patterns)
        accounts = None if target.account_ids is None else list(target.account_ids)
        if target.name not in stored:
            conn.execute(insert(TARGETS).values(
                sink=sink, name=target.name, patterns=patterns, account_ids=accounts,
                enabled=True, cursor_seq=newest, created_at=utcnow()))
        elif stored[target.name] != (patterns, accounts):
            conn.execute(update(TARGETS)
                         .where(_t.sink == sink, _t.name == target.name)
                         .values(patterns=patterns, account_ids=accounts))


def newest_seq(conn: Connection) -> int:
    """The highest event ``seq`` (0 when there is none)."""
    return conn.scalar(_NEWEST) or 0


def fan_out(conn: Connection, sink: str, names: Sequence[str], now: datetime) -> tuple[int, int]:
    """One pass in the caller's write transaction: (deliveries inserted, lowest cursor after)."""
    targets = conn.execute(_LOCK_TARGETS, {"sink": sink, "names": list(names)}).all()
    if not targets:
        return 0, 0
    low = min(r.cursor_seq for r in targets)
    seqs = list(conn.scalars(_SCAN, {"after": low}))
    if not seqs:
        return 0, low
    stamp = utcnow()
    old_enough = _GapCheck(conn, stamp - GAP_GRACE)
    made = 0
    cursors = []
    for row in targets:
        cursor = row.cursor_seq
        if cursor < seqs[-1]:
            made += _insert(conn, sink, row.name, list(row.patterns), row.account_ids,
                            row.enabled, cursor, seqs[-1], now, stamp)
            cursor = _advance(cursor, seqs, old_enough)
            if cursor != row.cursor_seq:
                conn.execute(_SET_CURSOR,
                             {"b_sink": sink, "b_name": row.name, "b_cursor": cursor})
        cursors.append(cursor)
    return made, min(cursors)


def _insert(conn: Connection, sink: str, name: str, patterns: list[str],
            accounts: list[str] | None, enabled: bool, after: int, upto: int, now: datetime,
            stamp: datetime) -> int:
    """Deliveries to ``name`` of the matching events in ``(after, upto]`` it lacks."""
    statement = _insert_statement(conn.dialect.name, tuple(patterns),
                                  None if accounts is None else tuple(accounts))
    result = conn.execute(statement, {
        "b_sink": sink, "b_target": name, "b_after": after, "b_upto": upto, "b_stamp": stamp,
        "b_status": PENDING if enabled else FAILED, "b_next": now if enabled else None,
        "b_error": None if enabled else "target disabled",
    })
    return max(result.rowcount, 0)


@functools.lru_cache(maxsize=256)
def _insert_statement(dialect: str, patterns: tuple[str, ...],
                      accounts: tuple[str, ...] | None = None) -> Insert:
    """``INSERT INTO deliveries … SELECT`` the matching events, skipping those the target has
    (``ON CONFLICT DO NOTHING`` on the unique key: a ``NOT EXISTS`` anti-join let
    PostgreSQL pick a quadratic plan on fresh statistics). Built once per dialect, pattern
    list and account list: building statements cost more than running them. Targeted event
    types (``webhook.test``) are never fanned out."""
    when = bindparam("b_stamp", type_=UTCDateTime())
    rows = select(
        bindparam("b_sink", type_=String()), bindparam("b_target", type_=String()),
        _e.seq, _e.id, bindparam("b_status", type_=String()), literal(0),
        bindparam("b_next", type_=UTCDateTime()), bindparam("b_error", type_=String()),
        when, when,
    ).where(
        _e.seq > bindparam("b_after"), _e.seq <= bindparam("b_upto"),
        sql_filter(patterns, _e.type), _e.type.not_in(TARGETED_TYPES),
        *(() if accounts is None else (_e.account_id.in_(accounts),)),
    )
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return upsert(DELIVERIES).from_select(_INSERTED, rows).on_conflict_do_nothing(
        index_elements=["sink", "target", "event_seq"])


class _GapCheck:
    """Whether the event with a given seq was created before ``limit`` (memoised: a pass
    asks about the few events that follow gaps)."""

    def __init__(self, conn: Connection, limit: datetime) -> None:
        self.conn = conn
        self.limit = limit
        self._seen: dict[int, bool] = {}

    def __call__(self, seq: int) -> bool:
        if seq not in self._seen:
            created = self.conn.scalar(_CREATED_AT, {"seq": seq})
            self._seen[seq] = created is not None and created <= self.limit
        return self._seen[seq]


def _advance(cursor: int, seqs: Sequence[int], old_enough: Callable[[int], bool]) -> int:
    """The highest seq up to which no event can still appear (see the module doc)."""
    for seq in seqs:
        if seq <= cursor:
            continue
        if seq != cursor + 1 and not old_enough(seq):
            break
        cursor = seq
    return cursor
