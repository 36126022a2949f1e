"""The core delivery queue on SQLite and PostgreSQL: fan-out, leases, outcomes, recover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from unifyport.accounts.service import emit
from unifyport.db.database import Database
from unifyport.db.repositories import EventRepository
from unifyport.db.types import utcnow
from unifyport.delivery.admin import deliveries_json
from unifyport.delivery.fanout import _advance
from unifyport.delivery.queue import DeliveryQueue
from unifyport.delivery.types import Outcome
from unifyport.events.sinks import Target

LEASE = timedelta(seconds=30)


async def _emit(db: Database, count: int, type: str = "message.received") -> None:
    async with db.write() as s:
        for i in range(count):
            emit(s, type, "acc_q", {"i": i})


async def test_fan_out_matches_patterns_and_starts_after_existing_events(db: Database) -> None:
    await _emit(db, 3)  # before the targets exist: not delivered
    q = DeliveryQueue(db, "webhook")
    await q.sync_targets([Target("all", ("*",)), Target("msg", ("message.*",)),
                          Target("acc", ("account.created",))])
    await _emit(db, 2, "message.received")
    await _emit(db, 1, "account.created")
    await _emit(db, 1, "account.auth.state_changed")
    assert await q.fan_out(utcnow()) == 4 + 2 + 1
    assert await q.fan_out(utcnow()) == 0
    states = {t.name: t.pending for t in await q.targets()}
    assert states == {"all": 4, "msg": 2, "acc": 1}


async def test_a_target_tracked_while_a_pass_runs_gets_the_events_that_pass_saw(
        db: Database) -> None:
    """An endpoint created through the API while a cycle's transaction is under way: the
    pass fans out to the old targets only, so it must not mark the events as fanned out."""
    q = DeliveryQueue(db, "webhook")
    await q.sync_targets([Target("old"), Target("new")])  # both rows exist, as after a create
    q.track(["old"])
    await _emit(db, 2)
    passing = asyncio.create_task(q.exchange(utcnow(), [], {}))
    await asyncio.sleep(0)  # the pass has taken its target list and waits for the database
    q.track(["old", "new"])
    assert (await passing)[0] == 2
    assert await q.fan_out(utcnow()) == 2
    assert {t.name: t.pending for t in await q.targets()} == {"old": 2, "new": 2}


async def test_processes_declaring_the_same_new_target_at_once_all_succeed(
    db: Database, database_url: str
) -> None:
    others = [Database(database_url) for _ in range(4)]  # as other server processes would have
    try:
        for other in others:  # connected already, so the declarations really overlap
            async with other.read() as s:
                await s.execute(text("SELECT 1"))
        await asyncio.gather(*(DeliveryQueue(d, "webhook").sync_targets([Target("main")])
                               for d in (db, *others)))
    finally:
        for other in others:
            await other.dispose()
    assert [t.name for t in await DeliveryQueue(db, "webhook").targets()] == ["main"]


async def test_concurrent_claims_never_overlap(db: Database, database_url: str) -> None:
    q1 = DeliveryQueue(db, "webhook")
    await q1.sync_targets([Target("main")])
    await _emit(db, 60)
    await q1.fan_out(utcnow())
    other = Database(database_url)  # a second engine, as a second server process would have
    try:
        q2 = DeliveryQueue(other, "webhook")
        now = utcnow()
        batches = await asyncio.gather(*(
            (q1 if i % 2 else q2).claim("main", 7, now, LEASE) for i in range(12)
        ))
    finally:
        await other.dispose()
    ids = [c.delivery_id for batch in batches for c in batch]
    assert len(ids) == len(set(ids)) == 60
    assert await q1.claim("main", 10, utcnow(), LEASE) == []


async def test_expired_lease_is_claimed_again_and_the_stale_outcome_ignored(
    db: Database,
) -> None:
    q = DeliveryQueue(db, "webhook")
    await q.sync_targets([Target("main")])
    await _emit(db, 1)
    await q.fan_out(utcnow())
    [first] = await q.claim("main", 5, utcnow(), timedelta(milliseconds=100))
    assert first.attempt == 1
    assert await q.claim("main", 5, utcnow(), LEASE) == []
    await asyncio.sleep(0.15)
    [again] = await q.claim("main", 5, utcnow(), LEASE)
    assert again.delivery_id == first.delivery_id and again.attempt == 2
    now = utcnow()
    await q.complete([Outcome(first, "failed", now, 5, 500, "late")])
    [state] = await q.targets()
    assert state.pending == 1 and state.failed == 0  # the old lease no longer counts
    await q.complete([Outcome(again, "succeeded", now, 5, 200)])
    [state] = await q.targets()
    assert state.succeeded == 1 and state.pending == 0


async def test_the_log_keeps_a_success_whose_lease_was_lost(db: Database) -> None:
    """A success is stored on its delivery row, unless the lease moved on meanwhile: then
    it still appears in the delivery log, as an attempt row."""
    q = DeliveryQueue(db, "webhook")
    await q.sync_targets([Target("main")])
    await _emit(db, 1)
    await q.fan_out(utcnow())
    [first] = await q.claim("main", 5, utcnow(), timedelta(milliseconds=100))
    await asyncio.sleep(0.15)
    [again] = await q.claim("main", 5, utcnow(), LEASE)
    await q.complete([Outcome(first, "succeeded", utcnow(), 7, 200)])  # its lease is gone
    [state] = await q.targets()
    assert state.pending == 1 and state.succeeded == 0
    await q.complete([Outcome(again, "succeeded", utcnow(), 5, 204)])
    async with db.read() as s:
        event = await EventRepository(s).get(first.event_id)
        assert event is not None
        [delivery] = await deliveries_json(s, event)
    assert delivery["status"] == "succeeded"
    assert [(a["attempt"], a["status_code"], a["succeeded"], a["duration_ms"])
            for a in delivery["attempts"]] == [(1, 200, True, 7), (2, 204, True, 5)]


async def test_retry_release_recover(db: Database) -> None:
    q = DeliveryQueue(db, "webhook")
    await q.sync_targets([Target("main")])
    await _emit(db, 2)
    await q.fan_out(utcnow())
    a, b = await q.claim("main", 5, utcnow(), LEASE)
    await q.release([b])
    now = utcnow()
    await q.complete([Outcome(a, "retry", now, 1, 503, retry_at=now + timedelta(seconds=60))])
    [again] = await q.claim("main", 5, now, LEASE)
    assert again.delivery_id == b.delivery_id and again.attempt == 1  # release gave it back
    assert await q.due(now + timedelta(seconds=59)) == set()
    assert await q.due(now + timedelta(seconds=60)) == {"main"}
    [retried] = await q.claim("main", 5, now + timedelta(seconds=60), LEASE)
    assert retried.delivery_id == a.delivery_id and retried.attempt == 2
    [state] = await q.targets()
    assert state.failing_since is not None
    await q.complete([Outcome(retried, "failed", now, 1, 500, "HTTP 500"),
                      Outcome(again, "failed", now, 1, 500, "HTTP 500")])
    assert await q.recover("main", now + timedelta(days=1), now) == 0
    assert await q.recover("main", now - timedelta(days=1), now) == 2
    [state] = await q.targets()
    assert state.pending == 2 and state.failed == 0


async def test_disable_fails_pending_and_enable_clears_failing(db: Database) -> None:
    q = DeliveryQueue(db, "webhook")
    await q.sync_targets([Target("main")])
    await _emit(db, 3)
    await q.fan_out(utcnow())
    assert await q.set_enabled("main", False, "test")
    await _emit(db, 1)
    await q.fan_out(utcnow())
    [state] = await q.targets()
    assert (state.enabled, state.pending, state.failed) == (False, 0, 4)
    assert state.disabled_reason == "test"
    assert await q.set_enabled("main", True)
    assert not await q.set_enabled("missing", True)
    [state] = await q.targets()
    assert state.enabled and state.failing_since is None


async def test_a_success_clears_failing_since_set_here_or_by_another_process(
    db: Database,
) -> None:
    here, there = DeliveryQueue(db, "webhook"), DeliveryQueue(db, "webhook")
    for q in (here, there):
        await q.sync_targets([Target("main")])
    await _emit(db, 4)
    await here.fan_out(utcnow())
    a, b, c, d = await here.claim("main", 4, utcnow(), LEASE)
    now = utcnow()

    async def failing_since() -> object:
        [state] = await here.targets()
        return state.failing_since

    await here.complete([Outcome(a, "failed", now, 1, 500, "HTTP 500")])
    assert await failing_since() is not None
    await here.complete([Outcome(b, "succeeded", now, 1, 200)])  # our own failure: cleared
    assert await failing_since() is None
    await there.complete([Outcome(c, "failed", now, 1, 500, "HTTP 500")])  # another process
    assert await failing_since() is not None  # the state read tells this queue about it
    await here.complete([Outcome(d, "succeeded", now, 1, 200)])
    assert await failing_since() is None


def test_cursor_waits_at_a_young_gap_and_passes_an_old_one() -> None:
    asked: list[int] = []

    def old(seq: int) -> bool:  # the event after a gap: is it older than GAP_GRACE?
        asked.append(seq)
        return seq == 6

    assert _advance(3, [4, 5, 7], old) == 5
    assert _advance(3, [4, 6, 7], old) == 7
    assert _advance(3, [5], old) == 3
    assert asked == [7, 6, 5]  # only events right after a gap are looked up
