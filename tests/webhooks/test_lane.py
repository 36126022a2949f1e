"""An endpoint lane buffers claims ahead of its workers, but no more than they can start
before the leases run out at the pace attempts have been taking."""

from __future__ import annotations

from unifyport.delivery.lanes import PER_WORKER, TargetLane
from unifyport.events.sinks import Claim, Target


def _lane(concurrency: int, timeout: float = 15.0) -> TargetLane:
    return TargetLane(Target(name="main", patterns=("*",), timeout=timeout,
                             max_concurrency=concurrency))


def test_fast_receivers_get_eight_claims_per_worker_buffered() -> None:
    lane = _lane(50)
    lane.pace = 0.005
    assert lane.depth == 50 + PER_WORKER * 50
    assert lane.room == lane.depth and lane.hungry


def test_a_slow_receiver_gets_only_what_can_start_within_the_lease() -> None:
    lane = _lane(10, timeout=15.0)
    lane.pace = 10.0  # ten seconds per attempt; the lease leaves 15 s of waiting
    assert lane.depth == 10 + 15  # 10 workers x 15 s / 10 s
    lane.pace = 60.0
    assert lane.depth == 10 + 2
    lane.pace = 1000.0
    assert lane.depth == 10 + 1  # always at least one buffered


def test_pace_follows_the_attempts() -> None:
    lane = _lane(1)
    lane.pace = 0.0
    claim = Claim(delivery_id=1, target="main", event_id="evt_1", event_type="t",
                  account_id=None, body=b"{}", attempt=1, token="x")
    lane.take([claim], expires=float("inf"))
    assert lane.startable(claim)
    lane.done(claim)
    assert lane.pace > 0.0 and not lane.held
