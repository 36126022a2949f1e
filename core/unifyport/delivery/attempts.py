"""One attempt: call the sink's ``deliver`` (or ``deliver_batch``) within the target's timeout
and turn its answer into the :class:`Outcome` the queue records (retry time included)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime

from unifyport.delivery.clock import Clock
from unifyport.delivery.retry import retry_at
from unifyport.delivery.types import Outcome
from unifyport.events.sinks import (
    BatchSink,
    Claim,
    Delivered,
    EventSink,
    Failed,
    RetryPolicy,
    Target,
)

log = logging.getLogger(__name__)

Recorded = tuple[Outcome, str | None]
"""An outcome, and the reason to disable its target (``None``: keep it)."""


async def attempt(sink: EventSink, target: Target, claims: Sequence[Claim], clock: Clock
                  ) -> list[Recorded]:
    """Deliver ``claims`` (one, or a batch for a target with ``batch_size`` above 1) once."""
    started, t0 = clock.now(), time.perf_counter()
    results: Sequence[object]
    try:
        async with asyncio.timeout(target.timeout):
            if target.batch_size > 1 and isinstance(sink, BatchSink):
                results = await sink.deliver_batch(claims)
            else:
                results = [await sink.deliver(claims[0])]
    except TimeoutError:
        results = [Failed(f"timeout: no response within {target.timeout:g} s")] * len(claims)
    except Exception as exc:
        # Its message may hold what the sink was sending: the traceback only at debug level.
        log.error("sink %s raised %s delivering to %s", sink.name, type(exc).__name__,
                  target.name)
        log.debug("sink %s traceback", sink.name, exc_info=True)
        results = [Failed(f"sink error: {type(exc).__name__}")] * len(claims)
    if len(results) != len(claims):
        results = [Failed(f"sink error: {len(results)} results for {len(claims)} events")
                   ] * len(claims)
    duration = int((time.perf_counter() - t0) * 1000)
    return [_outcome(sink.retry, c, r, started, duration, clock)
            for c, r in zip(claims, results, strict=True)]


def _outcome(policy: RetryPolicy, claim: Claim, result: object, started: datetime,
             duration: int, clock: Clock) -> Recorded:
    if isinstance(result, Delivered):  # the common case first
        ms = duration if result.duration_ms is None else result.duration_ms
        return Outcome(claim, "succeeded", started, ms, result.status), None
    if not isinstance(result, Failed):
        result = Failed(f"sink error: deliver returned {type(result).__name__}")
    ms = duration if result.duration_ms is None else result.duration_ms
    when = None
    if result.retryable and result.disable_target is None:
        when = retry_at(policy, clock.now(), claim.attempt, result.retry_after)
    if when is None:
        return Outcome(claim, "failed", started, ms, result.status, result.error), \
            result.disable_target
    return Outcome(claim, "retry", started, ms, result.status, result.error, when), None
