"""One delivery attempt: sign the exact bytes, POST without following redirects, classify."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import aiohttp

from unifyport import __version__
from unifyport.db.types import utcnow
from unifyport.delivery.clock import Clock
from unifyport.delivery.types import Claim, Outcome
from unifyport.outbound.addresses import OutboundRefused
from unifyport_webhook.config import Endpoint
from unifyport_webhook.retry import RetryPolicy, parse_retry_after
from unifyport_webhook.signing import signature_header

USER_AGENT = f"UnifyPort-Webhooks/{__version__}"
SLOW_DOWN = {429, 503}
"""Statuses whose ``Retry-After`` is honoured."""
MAX_READ = 64 * 1024


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    gone: bool
    """The receiver answered 410: disable the endpoint."""


@functools.lru_cache(maxsize=64)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


async def attempt(
    session: aiohttp.ClientSession, endpoint: Endpoint, claim: Claim, clock: Clock,
    retry: RetryPolicy,
) -> Attempt:
    """POST ``claim`` to ``endpoint`` once and say what happened."""
    body = claim.body  # exactly the bytes signed
    timestamp = int(time.time())  # receivers compare it with their wall clock
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claim.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(endpoint.keys, claim.event_id, timestamp, body),
    }
    started, t0 = clock.now(), time.perf_counter()
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    try:
        async with session.post(
            endpoint.url, data=body, headers=headers, allow_redirects=False,
            timeout=_timeout(endpoint.timeout),
        ) as resp:
            status = resp.status
            await resp.content.read(MAX_READ)
            if 300 <= status < 400:
                error = f"HTTP {status}: redirect to {resp.headers.get('location', '?')} " \
                        "not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
            if status in SLOW_DOWN:
                retry_after = parse_retry_after(resp.headers.get("retry-after"), utcnow())
    except OutboundRefused as exc:
        error = f"url_not_allowed: {exc}"
    except TimeoutError:
        error = f"timeout: no response within {endpoint.timeout:g} s"
    except aiohttp.ClientError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except OSError as exc:
        error = f"connection error: {exc}"
    duration = int((time.perf_counter() - t0) * 1000)
    if status is not None and 200 <= status < 300:
        return Attempt(Outcome(claim, "succeeded", started, duration, status), False)
    gone = status == 410
    when = None if gone else retry.retry_at(clock.now(), claim.attempt, retry_after)
    if when is None:
        return Attempt(Outcome(claim, "failed", started, duration, status, error), gone)
    return Attempt(Outcome(claim, "retry", started, duration, status, error, when), False)
