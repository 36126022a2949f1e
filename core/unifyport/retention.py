"""Retention: prune old events, deliveries and attempts in small batches.

The rules (``[retention]``, see ``docs/operations.md``), applied in this order:

1. an event older than ``events`` goes, with its deliveries and their attempts, once none of
   its deliveries is pending (waiting, retrying or in flight) and every enabled delivery
   target has fanned it out (``seq <= cursor_seq``): an undelivered event is never removed;
2. a succeeded delivery whose success is older than ``delivered`` goes with its attempts;
3. a failed delivery whose failure is older than ``failed`` goes with its attempts;
4. an attempt row older than ``attempts`` goes (its delivery stays).

Each batch is one short write transaction. On PostgreSQL a batch first takes a
transaction-level advisory lock (several servers share the work instead of racing for the
same rows) and locks the deliveries of the events it removes, re-reading their status, so a
concurrent redelivery either waits for the batch or keeps its event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.database import Database
from unifyport.db.types import utcnow
from unifyport.delivery.models import (
    ATTEMPTS,
    DELIVERIES,
    EVENTS,
    FAILED,
    PENDING,
    SUCCEEDED,
    TARGETS,
)
from unifyport.settings import RetentionSettings

log = logging.getLogger(__name__)
_e, _d, _a, _t = EVENTS.c, DELIVERIES.c, ATTEMPTS.c, TARGETS.c
_LOCK_KEY = 0x756E6970  # "unip": the advisory lock of a prune batch on PostgreSQL


@dataclass
class PruneReport:
    """Rows removed (or, in a dry run, that would be)."""

    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    dry_run: bool = False

    def as_json(self) -> dict[str, int | bool]:
        return {"events": self.events, "deliveries": self.deliveries,
                "attempts": self.attempts, "dry_run": self.dry_run}


@dataclass(frozen=True)
class _Rules:
    """The predicates of one pass, from the cut-offs at its start."""

    events: ColumnElement[bool]
    """Rule 1."""
    deliveries: ColumnElement[bool]
    """Rules 2 and 3 (rule 1 removes the deliveries of its events too)."""
    attempts: ColumnElement[bool]
    """Rule 4 (the others remove the attempts of the deliveries they remove)."""

    @classmethod
    def at(cls, keep: RetentionSettings, now: datetime) -> _Rules:
        def older(column: ColumnElement[datetime], age: timedelta | None
                  ) -> ColumnElement[bool]:
            return false() if age is None else column < now - age

        fanned_out = ~exists().where(_t.enabled.is_(True), _t.cursor_seq < _e.seq)
        pending = exists().where(_d.event_seq == _e.seq, _d.status == PENDING)
        return cls(
            and_(older(_e.created_at, keep.events), fanned_out, ~pending),
            or_(and_(_d.status == SUCCEEDED, older(_d.updated_at, keep.delivered)),
                and_(_d.status == FAILED, older(_d.updated_at, keep.failed))),
            older(_a.at, keep.attempts),
        )


async def prune(db: Database, keep: RetentionSettings, *, now: datetime | None = None,
                dry_run: bool = False, pause: float = 0.0) -> PruneReport:
    """One full pass; ``pause`` seconds between batches leave room for other writers."""
    rules = _Rules.at(keep, now or utcnow())
    if dry_run:
        return await _count(db, rules)
    report = PruneReport()
    batch = keep.batch_size
    for step in (_events_batch, _deliveries_batch, _attempts_batch):
        while True:
            async with db.write() as s:
                if not await _lead(s):
                    return report
                removed = await step(s, rules, batch, report)
            if removed < batch:
                break
            await anyio.sleep(pause)
    return report


async def _count(db: Database, rules: _Rules) -> PruneReport:
    """What a pass would remove now: the rules' rows and what goes with them."""
    deliveries = or_(rules.deliveries, _d.event_seq.in_(select(_e.seq).where(rules.events)))
    attempts = or_(rules.attempts, _a.delivery_id.in_(select(_d.id).where(deliveries)))
    async with db.read() as s:
        counts = [await s.scalar(select(func.count()).select_from(table).where(rule)) or 0
                  for table, rule in ((EVENTS, rules.events), (DELIVERIES, deliveries),
                                      (ATTEMPTS, attempts))]
    return PruneReport(counts[0], counts[1], counts[2], dry_run=True)


async def _lead(s: AsyncSession) -> bool:
    """On PostgreSQL, whether this transaction holds the prune lock (another server's batch
    may be running: then this pass ends)."""
    if s.get_bind().dialect.name != "postgresql":
        return True
    return bool(await s.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}))


async def _events_batch(s: AsyncSession, rules: _Rules, batch: int, report: PruneReport) -> int:
    seqs = list(await s.scalars(select(_e.seq).where(rules.events).order_by(_e.seq).limit(batch)))
    if not seqs:
        return 0
    # Lock their deliveries and re-read the statuses: one made pending since is kept.
    rows = (await s.execute(select(_d.id, _d.event_seq, _d.status)
                            .where(_d.event_seq.in_(seqs)).order_by(_d.id)
                            .with_for_update())).all()
    held = {r.event_seq for r in rows if r.status == PENDING}
    gone = [q for q in seqs if q not in held]
    ids = [r.id for r in rows if r.event_seq not in held]
    report.attempts += await _delete_attempts_of(s, ids)
    report.deliveries += await _delete_ids(s, DELIVERIES.c.id, ids)
    if gone:  # checked once more in the statement: a delivery inserted since keeps its event
        result = await s.execute(delete(EVENTS).where(
            _e.seq.in_(gone), ~exists().where(_d.event_seq == _e.seq, _d.status == PENDING)))
        report.events += int(result.rowcount)  # type: ignore[attr-defined]
    return len(seqs)


async def _deliveries_batch(s: AsyncSession, rules: _Rules, batch: int,
                            report: PruneReport) -> int:
    ids = list(await s.scalars(select(_d.id).where(rules.deliveries).order_by(_d.id)
                               .limit(batch).with_for_update()))
    report.attempts += await _delete_attempts_of(s, ids)
    report.deliveries += await _delete_ids(s, _d.id, ids)
    return len(ids)


async def _attempts_batch(s: AsyncSession, rules: _Rules, batch: int,
                          report: PruneReport) -> int:
    ids = list(await s.scalars(select(_a.id).where(rules.attempts).order_by(_a.id)
                               .limit(batch)))
    report.attempts += await _delete_ids(s, _a.id, ids)
    return len(ids)


async def _delete_attempts_of(s: AsyncSession, delivery_ids: list[int]) -> int:
    if not delivery_ids:
        return 0
    result = await s.execute(delete(ATTEMPTS).where(_a.delivery_id.in_(delivery_ids)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _delete_ids(s: AsyncSession, column: ColumnElement[int], ids: list[int]) -> int:
    if not ids:
        return 0
    result = await s.execute(delete(column.table).where(column.in_(ids)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def run_pruner(db: Database, keep: RetentionSettings, *, pause: float = 0.05) -> None:
    """Prune every ``interval`` until cancelled (the first pass a minute after start)."""
    delay = min(60.0, keep.interval.total_seconds())
    while True:
        await anyio.sleep(delay)
        delay = keep.interval.total_seconds()
        try:
            report = await prune(db, keep, pause=pause)
        except Exception:
            log.exception("retention: pruning failed; trying again in %s", keep.interval)
            continue
        if report.events or report.deliveries or report.attempts:
            log.info("retention: pruned %d event(s), %d deliveries, %d attempt(s)",
                     report.events, report.deliveries, report.attempts)
