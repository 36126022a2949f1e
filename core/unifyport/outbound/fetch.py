"""Download a user-supplied URL under the outbound policy, with a streamed size cap."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from unifyport.auth.results import Outbound, StepError
from unifyport.outbound.addresses import OutboundRefused
from unifyport.outbound.policy import OutboundPolicy
from unifyport.settings import Settings

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10, sock_read=30)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Download:
    """An answer being downloaded: its headers and its body in capped chunks."""

    content_type: str | None
    content_length: int | None
    file_name: str | None
    chunks: AsyncIterator[bytes]


@contextlib.asynccontextmanager
async def download(policy: OutboundPolicy, url: str, max_bytes: int,
                   limits: aiohttp.ClientTimeout = FETCH_TIMEOUT) -> AsyncIterator[Download]:
    """GET ``url`` (no redirects; ``http://`` only inside the allow list) and stream at most
    ``max_bytes`` of body within the ``limits`` timeouts. Raises :class:`StepError`
    ``url_not_allowed`` (400) or ``download_failed`` (502)."""
    try:
        parsed = policy.check_url(url, https_only_unless_allowed=True)
        only_allowed = parsed.scheme == "http"
        async with (
            aiohttp.ClientSession(connector=policy.connector(4, only_allowed=only_allowed),
                                  timeout=limits) as session,
            session.get(parsed, allow_redirects=False) as resp,
        ):
            if not 200 <= resp.status < 300:
                raise StepError("download_failed", f"the server answered HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise _too_large(max_bytes)
            name = resp.content_disposition.filename if resp.content_disposition else None
            yield Download(resp.headers.get("Content-Type"), resp.content_length,
                           name or parsed.name or None, _capped(resp, max_bytes))
    except OutboundRefused as exc:
        raise StepError("url_not_allowed", str(exc)) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise StepError("download_failed",
                        f"download failed: {type(exc).__name__}: {exc}") from None


async def _capped(resp: aiohttp.ClientResponse, max_bytes: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        seen += len(chunk)
        if seen > max_bytes:
            raise _too_large(max_bytes)
        yield chunk


async def fetch(policy: OutboundPolicy, url: str, max_bytes: int,
                limits: aiohttp.ClientTimeout = FETCH_TIMEOUT) -> bytes:
    """The whole body of ``url`` (see :func:`download`), for small documents."""
    async with download(policy, url, max_bytes, limits) as got:
        return b"".join([chunk async for chunk in got.chunks])


def _too_large(max_bytes: int) -> StepError:
    return StepError("download_failed", f"the download is larger than {max_bytes} bytes")


def outbound_for(settings: Settings) -> Outbound:
    """The :class:`Outbound` services handed to providers' steps, runtimes and sends."""
    policy = OutboundPolicy.from_settings(settings)

    async def bound(url: str, max_bytes: int) -> bytes:
        return await fetch(policy, url, max_bytes)

    def check_url(url: str) -> str:
        try:
            return str(policy.check_url(url, https_only_unless_allowed=True))
        except OutboundRefused as exc:
            raise StepError("url_not_allowed", str(exc)) from None

    def connector() -> aiohttp.BaseConnector:
        return policy.connector(8)

    return Outbound(fetch=bound, check_url=check_url, connector=connector)
