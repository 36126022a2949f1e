"""Files: uploads in parts (``upload.saveFilePart``/``saveBigFilePart``), the photos and
documents made of them, and downloads in chunks (``upload.getFile``), all on disk.

Telegram's rules are kept so a client that breaks them fails here too: parts of at most
512 KB, files above 10 MB only through big-file parts, download chunks aligned to 4 KB that
divide 1 MB and never cross a 1 MB boundary.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import struct
import time
from pathlib import Path
from typing import Any

from telethon.tl import functions, types

from .rpc import Call, HandlerTable, RpcFail
from .state import Media

HANDLERS = HandlerTable()

MAX_PART = 512 * 1024
BIG_FILE = 10 * 1024 * 1024
MAX_PARTS = 4000
MAX_BIG_PARTS = 8000
MB = 1024 * 1024


def _dir(c: Call, *parts: str) -> Path:
    path = c.sandbox.store.directory.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _staging(c: Call, file_id: int) -> Path:
    return _dir(c, "uploads", f"{c.user().id}_{file_id & (2**64 - 1):x}")


def _save_part(c: Call, file_id: int, part: int, data: bytes, max_parts: int) -> bool:
    if not 0 <= part < max_parts:
        raise RpcFail(400, "FILE_PART_INVALID")
    if not data:
        raise RpcFail(400, "FILE_PART_EMPTY")
    if len(data) > MAX_PART:
        raise RpcFail(400, "FILE_PART_TOO_BIG")
    (_staging(c, file_id) / str(part)).write_bytes(data)
    c.sandbox.stats["file_parts"] += 1
    return True


@HANDLERS.handles(functions.upload.SaveFilePartRequest)
def save_file_part(c: Call) -> bool:
    """One part of a file of at most 10 MB."""
    r = c.request
    return _save_part(c, r.file_id, r.file_part, r.bytes, MAX_PARTS)


@HANDLERS.handles(functions.upload.SaveBigFilePartRequest)
def save_big_file_part(c: Call) -> bool:
    """One part of a file above 10 MB."""
    r = c.request
    if not 0 < r.file_total_parts <= MAX_BIG_PARTS or r.file_part >= r.file_total_parts:
        raise RpcFail(400, "FILE_PARTS_INVALID")
    return _save_part(c, r.file_id, r.file_part, r.bytes, MAX_BIG_PARTS)


def _assemble(c: Call, uploaded: Any, media_id: int) -> tuple[Path, int]:
    """Join an uploaded file's parts into ``files/<media id>``: (path, size)."""
    staging = _staging(c, uploaded.id)
    big = isinstance(uploaded, types.InputFileBig)
    if not 0 < uploaded.parts <= (MAX_BIG_PARTS if big else MAX_PARTS):
        raise RpcFail(400, "FILE_PARTS_INVALID")
    for part in range(uploaded.parts):
        if not (staging / str(part)).exists():
            raise RpcFail(400, f"FILE_PART_{part}_MISSING")
    target = _dir(c, "files") / str(media_id)
    md5 = hashlib.md5(usedforsecurity=False)
    with target.open("wb") as out:
        for part in range(uploaded.parts):
            with (staging / str(part)).open("rb") as chunk:
                while block := chunk.read(MAX_PART):
                    md5.update(block)
                    out.write(block)
    size = target.stat().st_size
    shutil.rmtree(staging, ignore_errors=True)
    if not big and size > BIG_FILE:
        target.unlink()
        raise RpcFail(400, "FILE_PARTS_INVALID")  # Telegram wants big-file parts past 10 MB
    checksum = getattr(uploaded, "md5_checksum", "")
    if checksum and checksum.lower() != md5.hexdigest():
        target.unlink()
        raise RpcFail(400, "MD5_CHECKSUM_INVALID")
    return target, size


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    return 0, 0


def new_media(c: Call, input_media: Any) -> Media:
    """The stored photo or document an ``InputMedia*`` of ``messages.sendMedia`` makes."""
    store = c.sandbox.store
    if isinstance(input_media, types.InputMediaPhoto | types.InputMediaDocument):
        found = store.media.get(getattr(input_media.id, "id", 0))
        if found is None or found.access_hash != input_media.id.access_hash:
            raise RpcFail(400, "MEDIA_INVALID")
        return found
    if isinstance(input_media, types.InputMediaUploadedPhoto):
        kind, mime, attributes = "photo", "image/jpeg", []
    elif isinstance(input_media, types.InputMediaUploadedDocument):
        kind, mime = "document", input_media.mime_type or "application/octet-stream"
        attributes = [bytes(a).hex() for a in input_media.attributes]
    else:
        raise RpcFail(400, "MEDIA_INVALID")
    media_id = secrets.randbits(62) + 1
    path, size = _assemble(c, input_media.file, media_id)
    if kind == "photo" and size > BIG_FILE:
        path.unlink()
        raise RpcFail(400, "PHOTO_INVALID_DIMENSIONS")
    width, height = _png_size(path) if kind == "photo" else (0, 0)
    media = Media(
        id=media_id, kind=kind, access_hash=secrets.randbits(63),
        file_reference=secrets.token_bytes(16).hex(), size=size, mime_type=mime,
        date=int(time.time()), dc_id=c.dc_id, attributes=attributes, width=width, height=height,
    )  # fmt: skip
    store.media[media_id] = media
    store.dirty = True
    return media


def _located(c: Call, location: Any) -> Media:
    if not isinstance(location, types.InputPhotoFileLocation | types.InputDocumentFileLocation):
        raise RpcFail(400, "LOCATION_INVALID")
    media = c.sandbox.store.media.get(location.id)
    if media is None or media.access_hash != location.access_hash:
        raise RpcFail(400, "FILE_ID_INVALID")
    if bytes(location.file_reference or b"").hex() != media.file_reference:
        raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
    return media


@HANDLERS.handles(functions.upload.GetFileRequest)
def get_file(c: Call) -> types.upload.File:
    """A chunk of a stored file (shorter than ``limit`` at its end)."""
    r = c.request
    c.user()
    media = _located(c, r.location)
    offset, limit = r.offset, r.limit
    if r.precise:
        if limit <= 0 or limit % 1024 or limit > MB or offset % 1024:
            raise RpcFail(400, "LIMIT_INVALID")
    elif limit <= 0 or limit % 4096 or MB % limit:
        raise RpcFail(400, "LIMIT_INVALID")
    elif offset < 0 or offset % 4096 or offset // MB != (offset + limit - 1) // MB:
        raise RpcFail(400, "OFFSET_INVALID")
    path = c.sandbox.store.directory / "files" / str(media.id)
    data = b""
    if offset < media.size:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read(limit)
    c.sandbox.stats["file_chunks"] += 1
    partial = offset or len(data) == limit
    kind = types.storage.FilePartial() if partial else types.storage.FileUnknown()
    return types.upload.File(type=kind, mtime=int(os.path.getmtime(path)), bytes=data)
