"""The webhook sink passes the core's sink conformance kit against a real receiver on
127.0.0.1, every request verified with ``standardwebhooks``."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import new_secret, verify
from unifyport.events.sinks import EventSink, RetryPolicy, Target
from unifyport.testing.sinks import ACCEPT, Answer, FarSide, SinkConformance
from unifyport_webhook.config import Endpoint, WebhookConfig
from unifyport_webhook.sink import WebhookSink


class ReceiverFarSide:
    """The kit's answers as HTTP statuses: 200, 500, 410 Gone, 429 with ``Retry-After``."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.secret = new_secret()

    def received(self) -> Sequence[str]:
        ids = []
        for rec in self.receiver.received:
            verify(self.secret, rec)
            ids.append(rec.id)
        return ids

    def reply_with(self, *answers: Answer, then: Answer = ACCEPT) -> None:
        self.receiver.script = [_reply(a) for a in answers]
        self.receiver.default = _reply(then)


def _reply(answer: Answer) -> Reply:
    if answer.kind == "accept":
        return Reply(200, delay=answer.delay)
    if answer.kind == "permanent":
        return Reply(410, delay=answer.delay)
    if answer.retry_after is not None:
        return Reply(429, {"Retry-After": f"{answer.retry_after:.0f}"}, answer.delay)
    return Reply(500, delay=answer.delay)


class TestWebhookConformance(SinkConformance):
    config_toml = '[security]\noutbound_allow_cidrs = ["127.0.0.1/32"]\n'

    @pytest.fixture
    def kit_database_url(self, database_url: str) -> str:
        return database_url

    @asynccontextmanager
    async def far_side(self) -> AsyncIterator[FarSide]:
        receiver = await Receiver().start()
        try:
            yield ReceiverFarSide(receiver)
        finally:
            await receiver.stop()

    def make_sink(self, far: FarSide, target: Target, retry: RetryPolicy) -> EventSink:
        assert isinstance(far, ReceiverFarSide)
        key = base64.b64decode(far.secret.removeprefix("whsec_"))
        endpoint = Endpoint(target.name, far.receiver.url, (key,), target.patterns,
                            target.timeout, target.max_concurrency)
        config = replace(WebhookConfig(), endpoints=(endpoint,), retry_schedule=retry.schedule,
                         retry_jitter=retry.jitter)
        if retry.disable_after is not None:
            config = replace(config, disable_after=retry.disable_after)
        return WebhookSink(config)
