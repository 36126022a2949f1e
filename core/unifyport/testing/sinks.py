"""Sink conformance kit: a pytest base class that proves an event sink works with the core.

Subclass :class:`SinkConformance` in a test module (name the class ``Test…``) and implement
``far_side()`` (the receiving end, which the kit tells how to answer and asks what arrived)
and ``make_sink(far, target, retry)``. The kit runs the core's delivery engine over a real
database (SQLite in ``tmp_path``; override the ``kit_database_url`` fixture for another) and
checks at-least-once delivery across a restart in the middle of deliveries, a retry after a
retryable failure, none after a permanent one, and that ``Retry-After`` is honoured.

The tests are synchronous and run their own event loop, so they need no async pytest plugin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import pytest

from unifyport.config import load_settings
from unifyport.db.database import Database
from unifyport.db.migrate import upgrade
from unifyport.db.repositories import EventRepository
from unifyport.delivery.admin import deliveries_json
from unifyport.delivery.clock import ManualClock
from unifyport.delivery.engine import DeliveryEngine
from unifyport.delivery.queue import DeliveryQueue
from unifyport.events.sinks import EventSink, RetryPolicy, Target
from unifyport.settings import Settings

WITHIN = 30.0
"""Longest the kit waits for anything (seconds)."""


@dataclass(frozen=True)
class Answer:
    """How the far side answers one delivery."""

    kind: Literal["accept", "retryable", "permanent"] = "accept"
    retry_after: float | None = None
    """With ``retryable``: ask to wait this many seconds (e.g. HTTP 429 + ``Retry-After``)."""
    delay: float = 0.0
    """Seconds the far side takes before it answers."""


ACCEPT = Answer()
RETRYABLE = Answer("retryable")
"""A failure worth another attempt (e.g. HTTP 500)."""
PERMANENT = Answer("permanent")
"""A failure that no retry can mend (e.g. HTTP 410): the sink answers ``retryable=False``."""


class FarSide(Protocol):
    """The receiving end of the sink under test, as the kit drives it."""

    def received(self) -> Sequence[str]:
        """The event id of every delivery that reached the far side, in order (one per
        attempt, retries and duplicates included)."""
        ...

    def reply_with(self, *answers: Answer, then: Answer = ACCEPT) -> None:
        """Answer the next deliveries with ``answers`` in order, every later one with
        ``then``."""
        ...


class KitRun:
    """The sink's delivery engine over a database of its own, on a manual clock."""

    def __init__(self, url: str, settings: Settings, sink: EventSink) -> None:
        self.db = Database(url)
        self.engine = DeliveryEngine(sink, DeliveryQueue(self.db, sink.name), settings)
        self.engine.clock = self.clock = ManualClock()
        self.queue = self.engine.queue
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await upgrade(self.db)
        await self.queue.sync_targets(self.engine.sink.targets())
        self._task = asyncio.create_task(self.engine.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.db.dispose()

    async def emit(self, count: int) -> list[str]:
        """Commit ``count`` events in one transaction; their ids in order."""
        async with self.db.write() as s:
            events = [EventRepository(s).append("kit.event", None, {"n": i})
                      for i in range(count)]
        return [e.id for e in events]

    async def deliveries(self, event_id: str) -> list[dict[str, Any]]:
        """The event's deliveries (one per target, once made) with their attempts."""
        async with self.db.read() as s:
            event = await EventRepository(s).get(event_id)
            assert event is not None
            return await deliveries_json(s, event)

    async def delivery(self, event_id: str) -> dict[str, Any] | None:
        """The event's delivery to the kit's one target, once made."""
        deliveries = await self.deliveries(event_id)
        return deliveries[0] if deliveries else None

    async def attempts(self, event_id: str, count: int) -> dict[str, Any]:
        """The delivery once ``count`` attempts are recorded and it is not leased."""
        async def recorded() -> bool:
            d = await self.delivery(event_id)
            return d is not None and len(d["attempts"]) >= count and (
                d["status"] != "pending" or d["next_attempt_at"] is not None)

        await until(recorded, f"{count} attempt(s) of {event_id} recorded")
        d = await self.delivery(event_id)
        assert d is not None
        return d


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while True:
        done = check()
        if done if isinstance(done, bool) else await done:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class SinkConformance:
    """Base class of a sink's conformance tests (see the module docstring)."""

    target = Target("kit", ("*",), max_concurrency=4, timeout=5.0)
    """The one target the kit asks for; ``make_sink`` may change what its sink does not
    support (e.g. ``batch_size``), not the name or patterns."""
    config_toml = ""
    """Extra TOML for the gateway settings (e.g. ``[security] outbound_allow_cidrs``)."""
    restart_events = 40

    def far_side(self) -> AbstractAsyncContextManager[FarSide]:
        """Start the far side (a receiver, a broker…) and stop it on exit."""
        raise NotImplementedError

    def make_sink(self, far: FarSide, target: Target, retry: RetryPolicy) -> EventSink:
        """A new sink delivering to ``far`` with exactly one target and ``retry``."""
        raise NotImplementedError

    @pytest.fixture
    def kit_database_url(self, tmp_path: Path) -> str:
        """The database the kit delivers from (a fresh SQLite file by default)."""
        return f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}"

    @asynccontextmanager
    async def _delivery(self, far: FarSide, url: str, tmp_path: Path,
                        retry: RetryPolicy) -> AsyncIterator[KitRun]:
        cfg = tmp_path / "kit.toml"
        cfg.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n{self.config_toml}',
                       encoding="utf-8")
        run = KitRun(url, load_settings(cfg, environ={}),
                   self.make_sink(far, self.target, retry))
        try:
            await run.start()
            yield run
        finally:
            await run.stop()

    def _play(self, scenario: Callable[[FarSide], Awaitable[None]]) -> None:
        async def main() -> None:
            async with self.far_side() as far:
                await scenario(far)

        asyncio.run(main())

    def test_at_least_once_across_a_restart(self, tmp_path: Path, kit_database_url: str
                                            ) -> None:
        """Events committed, delivery stopped while some are in flight, started again with a
        new sink: every event reaches the far side at least once, and all end succeeded."""
        retry = RetryPolicy((0.0, 1.0), jitter=0.0)

        async def scenario(far: FarSide) -> None:
            far.reply_with(then=Answer(delay=0.1))
            async with self._delivery(far, kit_database_url, tmp_path, retry) as run:
                ids = await run.emit(self.restart_events)
                await until(lambda: len(far.received()) >= self.target.max_concurrency,
                             "the first deliveries")
            assert len(set(far.received())) < len(ids), "everything arrived before the stop"
            async with self._delivery(far, kit_database_url, tmp_path, retry) as run:
                await until(lambda: set(far.received()) >= set(ids), "every event")

                async def settled() -> bool:
                    [state] = await run.queue.targets()
                    return state.pending == 0

                await until(settled, "no delivery pending")
                [state] = await run.queue.targets()
                assert (state.succeeded, state.failed) == (len(ids), 0)

        self._play(scenario)

    @asynccontextmanager
    async def _one_event(self, far: FarSide, answer: Answer, schedule: tuple[float, ...],
                         tmp_path: Path, url: str
                         ) -> AsyncIterator[tuple[KitRun, str, dict[str, Any]]]:
        """Delivery running, one event committed and answered with ``answer``: yields the
        run, the event id and its delivery once the attempt is recorded."""
        far.reply_with(answer)
        retry = RetryPolicy(schedule, jitter=0.0)
        async with self._delivery(far, url, tmp_path, retry) as run:
            [eid] = await run.emit(1)
            yield run, eid, await run.attempts(eid, 1)

    def test_retryable_failure_is_retried_on_the_schedule(
        self, tmp_path: Path, kit_database_url: str
    ) -> None:
        async def scenario(far: FarSide) -> None:
            async with self._one_event(far, RETRYABLE, (0.0, 60.0, 120.0), tmp_path,
                                       kit_database_url) as (run, eid, d):
                assert d["status"] == "pending" and d["attempts"][0]["succeeded"] is False
                now = run.clock.now()
                assert await run.queue.due(now + timedelta(seconds=59.9)) == set()
                assert await run.queue.due(now + timedelta(seconds=60)) == {self.target.name}
                run.clock.advance(60)
                d = await run.attempts(eid, 2)
                assert d["status"] == "succeeded"
                assert [a["succeeded"] for a in d["attempts"]] == [False, True]
                assert list(far.received()) == [eid, eid]

        self._play(scenario)

    def test_permanent_failure_is_not_retried(self, tmp_path: Path, kit_database_url: str
                                              ) -> None:
        async def scenario(far: FarSide) -> None:
            async with self._one_event(far, PERMANENT, (0.0, 60.0, 120.0), tmp_path,
                                       kit_database_url) as (run, eid, d):
                assert d["status"] == "failed" and d["next_attempt_at"] is None
                run.clock.advance(3600)
                run.engine.wake()
                await asyncio.sleep(0.5)  # ten polls of the engine
                assert list(far.received()) == [eid]
                assert len((await run.attempts(eid, 1))["attempts"]) == 1

        self._play(scenario)

    def test_retry_after_replaces_the_schedule(self, tmp_path: Path, kit_database_url: str
                                               ) -> None:
        async def scenario(far: FarSide) -> None:
            async with self._one_event(far, Answer("retryable", retry_after=7), (0.0, 600.0),
                                       tmp_path, kit_database_url) as (run, eid, d):
                assert d["status"] == "pending"
                now = run.clock.now()
                assert await run.queue.due(now + timedelta(seconds=6.9)) == set()
                assert await run.queue.due(now + timedelta(seconds=7)) == {self.target.name}
                run.clock.advance(7)
                await run.attempts(eid, 2)
                assert list(far.received()) == [eid, eid]

        self._play(scenario)
