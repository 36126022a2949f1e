"""Kurigram's socket reads as the backend installs them (``pyrogram_setup.recv_from_socket``):
the same answers as Kurigram's own ``TCP._recv_from_socket`` (the bytes asked for, gathered
over chunks; ``None`` at the end of the stream or after ``TCP.TIMEOUT`` seconds of silence),
without a task a read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any

import pytest
from pyrogram.connection.transport import TCP

from unifyport_telegram.backends.pyrogram_setup import connection_class, recv_from_socket
from unifyport_telegram.config import TelegramConfig

Read = Callable[[Any, int], Coroutine[Any, Any, bytes | None]]
KURIGRAM: Read = TCP._recv_from_socket
READS = pytest.mark.parametrize("read", [KURIGRAM, recv_from_socket], ids=["kurigram", "ours"])


async def tasks_made(read: Read, reader: asyncio.StreamReader, length: int
                     ) -> tuple[bytes | None, int]:
    """What ``read`` answers, and how many tasks it made meanwhile."""
    loop = asyncio.get_running_loop()
    made = 0

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        nonlocal made
        made += 1
        return asyncio.Task(coro, loop=loop, **kw)

    loop.set_task_factory(factory)
    try:
        return await read(SimpleNamespace(reader=reader), length), made
    finally:
        loop.set_task_factory(None)


@READS
async def test_a_read_gathers_its_chunks(read: Read) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"abc")
    asyncio.get_running_loop().call_later(0.01, reader.feed_data, b"defgh")
    got, made = await tasks_made(read, reader, 7)
    assert got == b"abcdefg"
    assert made == (2 if read is KURIGRAM else 0)  # Kurigram's: a task per chunk
    assert await read(SimpleNamespace(reader=reader), 1) == b"h"


@READS
async def test_silence_end_of_stream_and_no_reader_answer_none(
        read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TCP, "TIMEOUT", 0.05)
    reader = asyncio.StreamReader()
    reader.feed_data(b"ab")
    assert await read(SimpleNamespace(reader=reader), 4) is None  # 2 bytes, then silence
    reader.feed_data(b"cd")
    reader.feed_eof()
    assert await read(SimpleNamespace(reader=reader), 4) is None  # 2 bytes, then the end
    assert await read(SimpleNamespace(reader=None), 4) is None


async def test_the_backends_connections_read_with_it() -> None:
    connection = connection_class(TelegramConfig())(2, "127.0.0.1", 443, False)
    protocol = connection.protocol_factory(ipv6=False, proxy=None, crypto_executor_workers=1,
                                           loop=asyncio.get_running_loop(), dc_id=2)
    assert protocol._recv_from_socket.__func__ is recv_from_socket
