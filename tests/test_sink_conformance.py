"""The sink conformance kit on an in-memory sink (so the engine is sink-agnostic), one batching
variant, proof that the kit fails a sloppy sink, and the registration check of sinks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.gateway import make_settings
from tests.support.memorysink import MemoryFarSide, MemorySink
from unifyport import hookimpl
from unifyport.errors import ConfigError
from unifyport.events.sinks import Delivered, EventSink, RetryPolicy, Target
from unifyport.plugins.registry import build_registry
from unifyport.testing.sinks import FarSide, SinkConformance


class TestMemorySink(SinkConformance):
    sloppy = False

    @asynccontextmanager
    async def far_side(self) -> AsyncIterator[FarSide]:
        yield MemoryFarSide()

    def make_sink(self, far: FarSide, target: Target, retry: RetryPolicy) -> EventSink:
        assert isinstance(far, MemoryFarSide)
        return MemorySink(far, [target], retry, self.sloppy)


class TestMemorySinkInBatches(TestMemorySink):
    target = replace(SinkConformance.target, max_concurrency=2, batch_size=8)

    def test_deliveries_go_in_batches(self, tmp_path: Path, kit_database_url: str) -> None:
        seen: list[MemoryFarSide] = []
        make_sink = self.make_sink

        def recording(far: FarSide, target: Target, retry: RetryPolicy) -> EventSink:
            assert isinstance(far, MemoryFarSide)
            seen.append(far)
            return make_sink(far, target, retry)

        self.make_sink = recording  # type: ignore[method-assign]
        self.test_at_least_once_across_a_restart(tmp_path, kit_database_url)
        assert max(seen[0].batches) > 1
        assert max(seen[0].batches) <= self.target.batch_size


class _SloppyMemorySink(TestMemorySink):  # not collected: run by the tests below
    sloppy = True


@pytest.mark.parametrize("check", [
    _SloppyMemorySink.test_permanent_failure_is_not_retried,
    _SloppyMemorySink.test_retry_after_replaces_the_schedule,
])
def test_the_kit_fails_a_sink_that_misreports_failures(
    tmp_path: Path, check: Callable[[SinkConformance, Path, str], None]
) -> None:
    with pytest.raises(AssertionError):
        check(_SloppyMemorySink(), tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}")


class _Registers:
    def __init__(self, sink: object) -> None:
        self.sink = sink

    @hookimpl
    def register_event_sinks(self, register: Callable[[object], None]) -> None:
        register(self.sink)


class _Plain:
    """One target, no ``deliver_batch``."""

    name = "plain"
    retry = RetryPolicy()

    def __init__(self, target: Target) -> None:
        self.target = target

    def targets(self) -> list[Target]:
        return [self.target]

    async def deliver(self, claim: object) -> Delivered:
        return Delivered()


class _NoRetry:
    name = "noretry"


class _NotAsync(_Plain):
    def deliver(self, claim: object) -> Delivered:  # type: ignore[override]
        return Delivered()


def _sink(**targets: object) -> MemorySink:
    return MemorySink(MemoryFarSide(), [replace(Target("main"), **targets)])  # type: ignore[arg-type]


@pytest.mark.parametrize(("sink", "reason"), [
    (_NotAsync(Target("main")), "needs an 'async def deliver(claim)'"),
    (_Plain(Target("main", batch_size=2)), "batch_size > 1 needs 'deliver_batch'"),
    (_sink(name="Main"), "target name 'Main' is invalid"),
    (_sink(patterns=("message..x",)), "patterns must be"),
    (_sink(max_concurrency=0), "must be positive"),
    (MemorySink(MemoryFarSide(), [Target("main")], RetryPolicy(())), "non-empty schedule"),
    (_NoRetry(), "must be a RetryPolicy"),
])
def test_registration_refuses_what_is_not_a_sink(tmp_path: Path, sink: object,
                                                 reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_registry(make_settings(tmp_path / "data", '[plugins]\ndisabled = ["webhook"]\n'),
                       (("badsink", _Registers(sink)),))
    assert reason in str(err.value)
    assert "is not an event sink" in str(err.value)


def test_registration_accepts_a_sink(tmp_path: Path) -> None:
    sink = _sink(batch_size=4)
    reg = build_registry(make_settings(tmp_path / "data", '[plugins]\ndisabled = ["webhook"]\n'),
                         (("memsink", _Registers(sink)),))
    assert reg.sinks["memory"] is sink and reg.owners["sink:memory"] == "memsink"


def test_the_sink_types_import_no_framework() -> None:
    """Plugins import the sink types without the web framework, the database layer or aiohttp."""
    code = ("import sys, unifyport.events.sinks; "
            "print(sorted(m for m in ('sqlalchemy', 'quart', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
