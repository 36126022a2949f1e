"""QR login tokens: the ``tg://login`` URL and its SVG rendering."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
from typing import Any

import segno


def token_url(token: bytes) -> str:
    return "tg://login?token=" + base64.urlsafe_b64encode(token).decode().rstrip("=")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


@functools.lru_cache(maxsize=64)
def svg(url: str) -> str:
    """The QR code of ``url`` (cached: every ``qr/check`` poll shows the same token again,
    and rendering costs milliseconds on the event loop): dark modules on its own white
    background with the 4-module quiet zone the QR standard asks for, so it scans on any
    page colour."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=4, border=4, dark="#000",
                                    light="#fff", xmldecl=False)
    return buf.getvalue().decode()


def qr_payload(token: bytes, expires: float) -> dict[str, Any]:
    """The ``qr`` object of a ``qr/start`` / ``qr/check`` response."""
    url = token_url(token)
    return {"url": url, "expires_at": iso(expires), "svg": svg(url)}
