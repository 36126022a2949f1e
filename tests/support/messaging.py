"""Helpers for the messaging tests through the API: multipart uploads, downloads, waiting
for one event, a real PNG (the loopback file server is the kit's
``unifyport.testing.messaging.serving``)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any

from werkzeug.datastructures import FileStorage

from tests.support.gateway import Api
from tests.support.waiting import wait_for


async def upload(api: Api, acc: str, chat: str, data: bytes, name: str, mime: str,
                 text: str = "") -> tuple[int, Any]:
    """``POST /v1/accounts/{acc}/messages`` as multipart with one file."""
    response = await api.client.post(
        f"/v1/accounts/{acc}/messages", headers={"Authorization": f"Bearer {api.key}"},
        form={"chat_id": chat, "text": text},
        files={"file": FileStorage(io.BytesIO(data), filename=name, content_type=mime)})
    return response.status_code, await response.get_json()


async def download(api: Api, path: str) -> tuple[int, str, bytes]:
    """(status, MIME type, bytes) of an attachment route."""
    response = await api.client.get(path, headers={"Authorization": f"Bearer {api.key}"})
    return response.status_code, response.mimetype or "", await response.get_data()


async def event_where(api: Api, acc: str, type_: str, match: Any,
                      attempts: int = 400) -> dict[str, Any]:
    """The data of the first ``type_`` event of the account ``match`` accepts (bounded)."""
    async def found() -> dict[str, Any] | None:
        status, body = await api.get(f"/v1/events?account_id={acc}&limit=100&type={type_}")
        assert status == 200, body
        return next((e["data"] for e in body["data"] if match(e["data"])), None)
    return dict(await wait_for(found, type_, attempts=attempts))


def png(side: int = 48) -> bytes:
    """A small real PNG with random pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    rows = b"".join(b"\x00" + os.urandom(3 * side) for _ in range(side))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
