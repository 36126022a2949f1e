"""MTProto TCP transports: abridged, intermediate, padded intermediate and full."""

from __future__ import annotations

import asyncio
import os
import struct
import zlib

ABRIDGED = "abridged"
INTERMEDIATE = "intermediate"
PADDED = "padded_intermediate"
FULL = "full"


class TransportClosed(Exception):
    """The peer closed the connection or sent a malformed frame."""


class Codec:
    """Frames packets on one connection; the kind is detected from the first bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.kind = ""
        self._first_len: int | None = None
        self._send_seq = 0

    async def detect(self) -> str:
        """Read the transport marker and remember which transport the client speaks."""
        first = await self._read(1)
        if first == b"\xef":
            self.kind = ABRIDGED
            return self.kind
        head = first + await self._read(3)
        if head == b"\xee\xee\xee\xee":
            self.kind = INTERMEDIATE
        elif head == b"\xdd\xdd\xdd\xdd":
            self.kind = PADDED
        else:
            self.kind = FULL
            self._first_len = struct.unpack("<i", head)[0]
        return self.kind

    async def _read(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise TransportClosed from exc

    async def recv(self) -> bytes:
        """Read the next packet's payload."""
        if self.kind == ABRIDGED:
            b = (await self._read(1))[0]
            length = int.from_bytes(await self._read(3), "little") if b == 0x7F else b
            return await self._read(length * 4)
        if self.kind in (INTERMEDIATE, PADDED):
            length = struct.unpack("<i", await self._read(4))[0]
            if not 0 < length < 16 * 1024 * 1024:
                raise TransportClosed
            data = await self._read(length)
            return strip_padding(data) if self.kind == PADDED else data
        if self._first_len is not None:
            length, self._first_len = self._first_len, None
        else:
            length = struct.unpack("<i", await self._read(4))[0]
        if not 12 <= length < 16 * 1024 * 1024:
            raise TransportClosed
        rest = await self._read(length - 4)
        body = rest[4:-4]
        crc = struct.unpack("<I", rest[-4:])[0]
        if zlib.crc32(struct.pack("<i", length) + rest[:-4]) != crc:
            raise TransportClosed
        return body

    def frame(self, payload: bytes) -> bytes:
        """Frame one payload for sending."""
        if self.kind == ABRIDGED:
            n = len(payload) // 4
            head = bytes([n]) if n < 127 else b"\x7f" + n.to_bytes(3, "little")
            return head + payload
        if self.kind == INTERMEDIATE:
            return struct.pack("<i", len(payload)) + payload
        if self.kind == PADDED:
            # No padding on a 4-byte transport error, so any reader sees exactly 4 bytes.
            pad = os.urandom(os.urandom(1)[0] % 16) if len(payload) > 4 else b""
            return struct.pack("<i", len(payload) + len(pad)) + payload + pad
        data = struct.pack("<ii", len(payload) + 12, self._send_seq) + payload
        self._send_seq += 1
        return data + struct.pack("<I", zlib.crc32(data))

    def send(self, payload: bytes) -> None:
        """Queue one payload on the socket."""
        if not self.writer.is_closing():
            self.writer.write(self.frame(payload))


def strip_padding(data: bytes) -> bytes:
    """Drop the random tail of a padded-intermediate packet."""
    if len(data) >= 8 and data[:8] == b"\x00" * 8:
        if len(data) < 20:
            return data
        body_len = struct.unpack("<i", data[16:20])[0]
        return data[: 20 + body_len]
    if len(data) <= 24:
        return data
    return data[: 24 + (len(data) - 24) // 16 * 16]
