"""One delivery attempt: sign the exact bytes, POST without following redirects, classify."""

from __future__ import annotations

import time
from collections.abc import Sequence
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
from unifyport_webhook.signing import signature_header

USER_AGENT = f"UnifyPort-Webhooks/{__version__}"
SLOW_DOWN = {429, 503}
"""Statuses whose ``Retry-After`` is honoured."""
GONE = 410
"""Disables the endpoint."""
MAX_READ = 64 * 1024


async def post(session: aiohttp.ClientSession, url: str, keys: Sequence[bytes], claim: Claim,
               extra_headers: Sequence[tuple[str, str]] = ()) -> DeliveryResult:
    """POST ``claim`` to ``url`` once, signed with every key, and say what happened. The core
    bounds the attempt by the endpoint's timeout (it cancels the request then). The
    connector checks each address the URL resolves to (the outbound policy), so a DNS change
    after the endpoint was created cannot lead a delivery elsewhere."""
    body = claim.body  # exactly the bytes signed
    timestamp = int(time.time())  # receivers compare it with their wall clock
    headers = {
        **dict(extra_headers),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claim.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, claim.event_id, timestamp, body),
    }
    try:
        async with session.post(url, data=body, headers=headers,
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
