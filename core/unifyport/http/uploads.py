"""Files to send: a multipart upload or ``attachments: [{"url"}]`` spooled to private
temporary files within ``messaging.upload_max_bytes``, never held whole in memory.

The body of a multipart send is read as it arrives (the app's 1 MiB body cap is lifted for
that route only, by :class:`GatewayRequest`; the bytes are counted here instead).
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from hypercorn.typing import ASGIReceiveCallable
from quart import Request, request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from unifyport.errors import ApiError
from unifyport.messages import AttachmentKind, OutgoingAttachment
from unifyport.outbound.fetch import download
from unifyport.outbound.policy import OutboundPolicy
from unifyport.settings import MessagingSettings

HIGH_WATER = 1 << 20
"""Most bytes of a streamed request body waiting to be read."""
SEND_PATH = re.compile(r"/v1/accounts/[^/]+/messages/?")
FIELD_MAX = 128 * 1024
"""Largest non-file form field (the text, ids); the decoder's own buffer is unbounded
(it holds one received chunk at a time)."""
KINDS: tuple[AttachmentKind, ...] = ("image", "video", "audio", "voice", "file")


class StreamedBody(Body):
    """A request body consumed as it arrives with at most ``HIGH_WATER`` bytes waiting:
    :class:`FlowControlledConnection` receives no more until the route has read them, so
    the server stops reading the socket (TCP back-pressure) instead of buffering."""

    def __init__(self, expected_content_length: int | None,
                 max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._room = asyncio.Event()
        self._room.set()

    def append(self, data: bytes) -> None:
        super().append(data)
        if len(self._data) >= HIGH_WATER:
            self._room.clear()

    async def __anext__(self) -> bytes:
        data = await super().__anext__()
        self._room.set()
        return data

    async def room(self) -> None:
        await self._room.wait()


class FlowControlledConnection(ASGIHTTPConnection):
    """Quart's ASGI connection, receiving a :class:`StreamedBody` only as it is read."""

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        body = request.body
        if not isinstance(body, StreamedBody):
            return await super().handle_messages(request, receive)
        while True:
            await body.room()
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                return


class GatewayRequest(Request):
    """Quart's request; a multipart send has no app-wide body cap (it is streamed to disk
    and capped per file by :class:`Spool`) and a flow-controlled body."""

    def __init__(self, method: str, scheme: str, path: str, query_string: bytes,
                 headers: Headers, *args: Any, **kwargs: Any) -> None:
        if method == "POST" and SEND_PATH.fullmatch(path) and \
                headers.get("Content-Type", "").lower().startswith("multipart/form-data"):
            kwargs["max_content_length"] = None
            self.body_class = StreamedBody
        super().__init__(method, scheme, path, query_string, headers, *args, **kwargs)


def kind_of(mime_type: str) -> AttachmentKind:
    """The attachment kind a MIME type suggests (``file`` unless image, video or audio)."""
    major = mime_type.split("/", 1)[0]
    return {"image": "image", "video": "video", "audio": "audio"}.get(major, "file")  # type: ignore[return-value]


def _too_large(cap: int) -> ApiError:
    return ApiError(413, "file_too_large", f"an attachment is larger than {cap} bytes",
                    max_bytes=cap)


def _clean_name(name: str | None, mime_type: str, index: int) -> str:
    base = Path((name or "").replace("\\", "/")).name.strip()[:255]
    return base or f"attachment-{index}{mimetypes.guess_extension(mime_type) or ''}"


class Spool:
    """A private temporary directory for one send's files, removed at exit."""

    def __init__(self, settings: MessagingSettings, base: Path) -> None:
        self.settings = settings
        self.base = base
        self.dir: Path | None = None
        """Made at the first file (a text-only send touches no disk)."""

    async def __aenter__(self) -> Spool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.dir is not None:
            found = self.dir
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(found, ignore_errors=True))

    async def write(self, index: int, chunks: AsyncIterator[bytes]) -> tuple[Path, int]:
        """Write ``chunks`` to a new file; 413 ``file_too_large`` past the cap."""
        if self.dir is None:
            self.dir = Path(await anyio.to_thread.run_sync(
                lambda: tempfile.mkdtemp(prefix="spool-", dir=self.base)))
        path, size, cap = self.dir / f"{index}.bin", 0, self.settings.upload_max_bytes
        async with await anyio.open_file(path, "wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > cap:
                    raise _too_large(cap)
                await f.write(chunk)
        return path, size

    def _check_count(self, count: int) -> None:
        if count > self.settings.max_attachments:
            raise ApiError(422, "validation_failed", "invalid request", fields={
                "attachments": f"at most {self.settings.max_attachments} attachments"})

    async def from_urls(self, policy: OutboundPolicy,
                        specs: list[dict[str, Any]]) -> list[OutgoingAttachment]:
        """Fetch each ``{"url", kind?, file_name?, mime_type?, caption?}`` under the
        outbound-URL policy (``url_not_allowed`` 400, ``download_failed`` 502)."""
        self._check_count(len(specs))
        out = []
        for i, spec in enumerate(specs):
            async with download(policy, spec["url"], self.settings.upload_max_bytes) as got:
                path, size = await self.write(i, got.chunks)
            mime = spec.get("mime_type") or (got.content_type or "").split(";")[0].strip() \
                or "application/octet-stream"
            out.append(OutgoingAttachment(
                kind=spec.get("kind") or kind_of(mime), mime_type=mime, size=size, path=path,
                file_name=_clean_name(spec.get("file_name") or got.file_name, mime, i),
                caption=spec.get("caption")))
        return out

    async def from_multipart(self) -> tuple[dict[str, str], list[OutgoingAttachment]]:
        """Read the multipart body as it arrives: its plain fields and its files (any part
        with a file name; ``kind`` fields apply to the files in order)."""
        boundary = request.mimetype_params.get("boundary", "")
        if not boundary:
            raise ApiError(400, "invalid_request", "multipart body without a boundary")
        decoder = MultipartDecoder(boundary.encode("latin-1"),
                                   max_parts=4 * self.settings.max_attachments + 16)
        fields: dict[str, str] = {}
        files: list[tuple[Path, int, str, str | None]] = []
        events = self._events(decoder)
        try:
            async for event in events:
                if isinstance(event, File):
                    self._check_count(len(files) + 1)
                    mime = event.headers.get("Content-Type") or "application/octet-stream"
                    path, size = await self.write(len(files), _part(events))
                    files.append((path, size, mime, event.filename))
                elif isinstance(event, Field):
                    value = bytearray()
                    async for chunk in _part(events):
                        value += chunk
                        if len(value) > FIELD_MAX:
                            raise ApiError(413, "invalid_request",
                                           f"form field {event.name!r} is too large")
                    fields[event.name] = value.decode("utf-8", "replace")
        except (ValueError, RequestEntityTooLarge) as exc:
            raise ApiError(400, "invalid_request", f"malformed multipart body: {exc}") from None
        finally:
            await events.aclose()
        kinds = [k for k in fields.get("kind", "").split(",") if k.strip()]
        out = []
        for i, (path, size, mime, name) in enumerate(files):
            kind = kinds[i].strip() if i < len(kinds) else kind_of(mime)
            if kind not in KINDS:
                raise ApiError(422, "validation_failed", "invalid request",
                               fields={"kind": f"one of {', '.join(KINDS)}"})
            out.append(OutgoingAttachment(kind=kind, mime_type=mime, size=size, path=path,
                                          file_name=_clean_name(name, mime, i)))
        return fields, out

    @staticmethod
    async def _events(decoder: MultipartDecoder) -> AsyncGenerator[Any, None]:
        """The decoder's events as the body arrives (``Data`` events carry the parts)."""
        async for chunk in request.body:
            decoder.receive_data(chunk)
            while not isinstance(event := decoder.next_event(), NeedData):
                if isinstance(event, Epilogue):
                    return
                yield event
        decoder.receive_data(None)
        while not isinstance(event := decoder.next_event(), NeedData | Epilogue):
            yield event
        if not isinstance(event, Epilogue):
            raise ValueError("the body ended inside a part")


async def _part(events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """The ``Data`` of the current part, up to its last chunk."""
    async for event in events:
        if not isinstance(event, Data):
            raise ValueError("a part without data")
        if event.data:
            yield event.data
        if not event.more_data:
            return
