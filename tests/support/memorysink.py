"""A tiny in-memory event sink and its far side: proves the delivery engine and the sink
conformance kit do not depend on HTTP. (Its "network" is a list in this process; no real
peer exists for it.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from unifyport.events.sinks import (
    Claim,
    Delivered,
    DeliveryResult,
    Failed,
    RetryPolicy,
    Target,
)
from unifyport.testing.sinks import ACCEPT, Answer


class MemoryFarSide:
    """Records what arrives and answers as scripted."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.batches: list[int] = []
        """The size of every delivery call (1 for ``deliver``)."""
        self._script: list[Answer] = []
        self._then = ACCEPT

    def received(self) -> Sequence[str]:
        return list(self.arrived)

    def reply_with(self, *answers: Answer, then: Answer = ACCEPT) -> None:
        self._script, self._then = list(answers), then

    def arrive(self, claim: Claim) -> Answer:
        self.arrived.append(claim.event_id)
        return self._script.pop(0) if self._script else self._then


class MemorySink:
    """Sink ``memory``: "delivers" to a :class:`MemoryFarSide`; batches when a target asks.
    ``sloppy`` makes it treat every failure as retryable and drop ``retry_after`` (the kit
    must catch that)."""

    name = "memory"

    def __init__(self, far: MemoryFarSide, targets: Sequence[Target],
                 retry: RetryPolicy | None = None, sloppy: bool = False) -> None:
        self.far = far
        self.retry = retry or RetryPolicy()
        self._targets = list(targets)
        self._sloppy = sloppy

    def targets(self) -> list[Target]:
        return self._targets

    async def deliver(self, claim: Claim) -> DeliveryResult:
        [result] = await self.deliver_batch([claim])
        return result

    async def deliver_batch(self, claims: Sequence[Claim]) -> list[DeliveryResult]:
        self.far.batches.append(len(claims))
        answers = [self.far.arrive(c) for c in claims]
        await asyncio.sleep(max(a.delay for a in answers))
        return [self._result(a) for a in answers]

    def _result(self, answer: Answer) -> DeliveryResult:
        if answer.kind == "accept":
            return Delivered()
        if self._sloppy:
            return Failed("refused")
        return Failed(answer.kind, retryable=answer.kind == "retryable",
                      retry_after=answer.retry_after)
