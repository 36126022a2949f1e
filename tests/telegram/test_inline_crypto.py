"""Kurigram's packet crypto handed to ``SmallInline`` (the backend's executor): a small
packet is encrypted in the loop's thread and its result awaited without a turn of the loop;
a big one still goes to the connection's thread."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyrogram.crypto import aes

from unifyport_telegram.backends.pyrogram_setup import INLINE_MAX, SmallInline


async def test_a_small_packet_costs_no_turn_of_the_loop() -> None:
    loop = asyncio.get_running_loop()
    inline = SmallInline(ThreadPoolExecutor(1, thread_name_prefix="CryptoWorker"))
    key, iv = os.urandom(32), os.urandom(16)
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        packet = os.urandom(1024)
        before = turns
        for _ in range(100):  # as Kurigram calls it (session.handle_packet, tcp.send)
            out = await loop.run_in_executor(inline, aes.ctr256_encrypt, packet, key,
                                             bytearray(iv), bytearray(1))
            assert out == aes.ctr256_encrypt(packet, key, bytearray(iv), bytearray(1))
        assert turns == before  # done in place: no hand-over, no wake-up, no turn
        with pytest.raises(TypeError):  # the function's error reaches the caller
            await loop.run_in_executor(inline, aes.ctr256_encrypt, packet, None, iv,
                                       bytearray(1))
        big = os.urandom(INLINE_MAX + 1)
        assert await loop.run_in_executor(inline, len, big) == INLINE_MAX + 1
        assert turns > before  # a file part's went to the thread and back
    finally:
        tick.cancel()
        inline.shutdown()
