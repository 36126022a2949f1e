"""The webhook sink: one target per endpoint; each delivery is one signed POST.

The core's delivery engine does the rest (fan-out, leases, concurrency, timeouts, retries,
``Retry-After``, disabling, the attempt log): this sink only says what its targets are and
sends one claimed event to one endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from unifyport.sdk import (
    Claim,
    DeliveryResult,
    EndpointLookup,
    Failed,
    RetryPolicy,
    SinkContext,
    SinkControl,
    Target,
)
from unifyport_webhook.config import WebhookConfig
from unifyport_webhook.sender import post

_NO_TIMEOUT = aiohttp.ClientTimeout(total=None)
"""The core cancels an attempt at the endpoint's timeout; a second timer would cost time."""


class WebhookSink:
    """Registered as sink ``webhook``; it also delivers the endpoints stored through the API
    (``/v1/webhooks``), which the core hands over in ``ctx.endpoints``."""

    name = "webhook"
    stored_endpoints = True

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.endpoints = {e.name: e for e in config.endpoints}
        self.retry = RetryPolicy(config.retry_schedule, config.retry_jitter,
                                 config.disable_after)
        self.control: SinkControl | None = None
        """The engine's operator actions while delivery runs (for the routes)."""
        self._stored: EndpointLookup | None = None
        self._session: aiohttp.ClientSession | None = None

    def targets(self) -> list[Target]:
        return [Target(e.name, e.events, e.max_concurrency, e.timeout, url=e.url)
                for e in self.endpoints.values()]

    @asynccontextmanager
    async def running(self, ctx: SinkContext) -> AsyncIterator[None]:
        """One pooled HTTP session for every endpoint, through the outbound policy."""
        # Unbounded: each endpoint's lane bounds its own concurrency, and stored endpoints
        # come and go while the session lives.
        connector = ctx.outbound.connector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=_NO_TIMEOUT) as session:
            self._session, self.control, self._stored = session, ctx.control, ctx.endpoints
            try:
                yield
            finally:
                self._session, self.control, self._stored = None, None, None

    async def deliver(self, claim: Claim) -> DeliveryResult:
        assert self._session is not None, "deliver() outside running()"
        own = self.endpoints.get(claim.target)
        if own is not None:
            return await post(self._session, own.url, own.keys, claim)
        stored = self._stored.get(claim.target) if self._stored is not None else None
        if stored is None:
            return Failed("endpoint deleted", retryable=False)
        return await post(self._session, stored.url, stored.keys, claim, stored.headers)
