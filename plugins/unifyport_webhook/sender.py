"""One delivery attempt: sign the exact bytes, POST without following redirects, classify."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import aiohttp

from unifyport import __version__
from unifyport.sdk import (
    Claim,
    Delivered,
    DeliveryResult,
    Failed,
    OutboundRefused,
    parse_retry_after,
)
from unifyport_webhook.config import Endpoint
from unifyport_webhook.signing import signature_header

USER_AGENT = f"UnifyPort-Webhooks/{__version__}"
SLOW_DOWN = {429, 503}
"""Statuses whose ``Retry-After`` is honoured."""
GONE = 410
"""Disables the endpoint."""
MAX_READ = 64 * 1024


async def post(session: aiohttp.ClientSession, endpoint: Endpoint, claim: Claim
               ) -> DeliveryResult:
    """POST ``claim`` to ``endpoint`` once and say what happened. The core bounds the attempt
    by ``endpoint.timeout`` (it cancels the request then)."""
    body = claim.body  # exactly the bytes signed
    timestamp = int(time.time())  # receivers compare it with their wall clock
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claim.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(endpoint.keys, claim.event_id, timestamp, body),
    }
    try:
        async with session.post(endpoint.url, data=body, headers=headers,
                                allow_redirects=False) as resp:
            status = resp.status
            await resp.content.read(MAX_READ)
            if 200 <= status < 300:
                return Delivered(status)
            if status == GONE:
                return Failed(f"HTTP {status}", status=status,
                              disable_target="the receiver answered 410 Gone")
            if 300 <= status < 400:
                return Failed(f"HTTP {status}: redirect to {resp.headers.get('location', '?')} "
                              "not followed", status=status)
            retry_after = parse_retry_after(resp.headers.get("retry-after"), datetime.now(UTC)) \
                if status in SLOW_DOWN else None
            return Failed(f"HTTP {status}", status=status, retry_after=retry_after)
    except OutboundRefused as exc:
        return Failed(f"url_not_allowed: {exc}")
    except aiohttp.ClientError as exc:
        return Failed(f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        return Failed(f"connection error: {exc}")
