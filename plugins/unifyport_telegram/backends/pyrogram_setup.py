"""Kurigram plumbing: trusting the configured server key, dialling the configured addresses,
small packets' crypto in the loop's thread, session strings, and keeping Kurigram's
unknown-error file out of the working directory."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
import struct
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from io import BytesIO
from types import MethodType
from typing import Any, TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pyrogram.connection import Connection
from pyrogram.connection.transport import TCP
from pyrogram.crypto import rsa
from pyrogram.errors import rpc_error as _rpc_error_module

from ..backend import tcp_keepalive
from ..config import TelegramConfig
from ..session_data import SessionData

log = logging.getLogger(__name__)
T = TypeVar("T")
TCP_TIMEOUT = TCP.TIMEOUT
"""Kurigram's own silence timeout (seconds)."""


class _UnknownErrors:
    """Stands in for ``pathlib.Path`` in Kurigram's error module, which appends unknown RPC
    error names to ``./unknown_errors.txt`` in whatever directory the server runs from; the
    names go to the log instead."""

    def __init__(self, _name: str) -> None:
        pass

    def open(self, *_args: Any, **_kwargs: Any) -> _UnknownErrors:
        return self

    def __enter__(self) -> _UnknownErrors:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def write(self, line: str) -> int:
        log.info("Telegram answered an error Kurigram does not know: %s", line.strip())
        return len(line)


_rpc_error_module.Path = _UnknownErrors


def _tl_bytes(data: bytes) -> bytes:
    if len(data) < 254:
        out = bytes([len(data)]) + data
    else:
        out = b"\xfe" + len(data).to_bytes(3, "little") + data
    return out + b"\x00" * (-len(out) % 4)


def trust(pem: bytes | None) -> None:
    if pem is None:
        return
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the server public key is not an RSA key")
    nums = key.public_numbers()
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    fingerprint = struct.unpack("<q", hashlib.sha1(_tl_bytes(n) + _tl_bytes(e),
                                                   usedforsecurity=False).digest()[-8:])[0]
    rsa.server_public_keys[fingerprint] = rsa.PublicKey(nums.n, nums.e)


INLINE_MAX = 64 * 1024
"""Largest packet (bytes) whose encryption or decryption runs in the event loop's thread."""


class SmallInline(Executor):
    """Kurigram hands every packet's crypto (``mtproto.unpack``/``pack``, the obfuscated
    transports' AES-CTR) to a thread of its connection's own: a hand-over and a wake-up of
    the loop per inbound message, threads contending for the GIL, and a thread per online
    account. A packet up to :data:`INLINE_MAX` bytes (a few microseconds of AES) is handled
    here, in the caller's thread; only bigger ones (file parts) go to the thread, which is
    therefore started only when one comes."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if max(map(_size, args), default=0) > INLINE_MAX:
            return self.pool.submit(fn, *args, **kwargs)
        # From the loop, an asyncio future, already done: ``run_in_executor`` hands it back
        # as it is (``wrap_future``), and awaiting it does not yield. A thread-side future
        # would cost, per packet, a lock, chained callbacks and a wake-up of the loop through
        # its self-pipe (``call_soon_threadsafe``), 2-3% of the CPU of idle clients. Not from
        # the loop: a finished thread-side future.
        try:
            done: Future[T] | asyncio.Future[T] = asyncio.get_running_loop().create_future()
        except RuntimeError:
            done = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:
            done.set_exception(exc)
        return cast("Future[T]", done)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait, cancel_futures=cancel_futures)


def _size(arg: Any) -> int:
    """Bytes of a packet argument: raw bytes, a buffer being read, a TL message (its body's
    length); 0 for keys and ids."""
    if isinstance(arg, bytes | bytearray | memoryview):
        return len(arg)
    if isinstance(arg, BytesIO):
        return arg.getbuffer().nbytes
    length = getattr(arg, "length", None)
    return length if isinstance(length, int) else 0


def connection_class(cfg: TelegramConfig) -> type[Connection]:
    class ConfiguredConnection(Connection):  # type: ignore[misc]
        """Dials the configured address of each DC instead of Kurigram's built-in table;
        small packets' crypto runs in the loop's thread (:class:`SmallInline`); reads as
        :func:`recv_from_socket`; TCP keep-alive as
        :func:`~unifyport_telegram.backend.tcp_keepalive` sets it."""

        def __init__(self, dc_id: int, server_address: str, port: int,
                     *args: Any, **kwargs: Any) -> None:
            host, real_port = cfg.dc_address(dc_id)
            super().__init__(dc_id, host, real_port, *args, **kwargs)
            make_transport: Callable[..., Any] = self.protocol_factory  # type: ignore[has-type]

            def transport(**kw: Any) -> Any:
                protocol = make_transport(**kw)
                protocol.crypto_executor = SmallInline(protocol.crypto_executor)
                # Kurigram's own values (probes after 10 idle seconds, every 5 s) made
                # 5,000 idle connections 500 probes a second; the same as Telethon's here.
                protocol._enable_keepalive = tcp_keepalive
                protocol._recv_from_socket = MethodType(recv_from_socket, protocol)
                return protocol

            self.protocol_factory = transport

    return ConfiguredConnection


async def recv_from_socket(protocol: Any, length: int) -> bytes | None:
    """Kurigram's ``TCP._recv_from_socket``: ``length`` bytes of the connection, or
    ``None`` when it closes, fails or stays silent ``TCP.TIMEOUT`` seconds between two
    chunks. Each chunk's wait is bounded by ``asyncio.timeout`` (a timer) instead of
    Kurigram's ``asyncio.wait_for`` (a task per read: two a packet, of the ~4.7 tasks an
    inbound message cost in a profile at 1,500 msg/s), and without its debug lines."""
    reader = protocol.reader
    if not reader:
        return None
    data = b""
    while len(data) < length:
        try:
            async with asyncio.timeout(TCP.TIMEOUT):
                chunk = await reader.read(length - len(data))
        except (TimeoutError, OSError):
            return None
        if not chunk:
            return None
        data += chunk
    return data


def keep_alive(session: Any, cfg: TelegramConfig) -> None:
    """Ping every ``ping_interval`` seconds instead of Kurigram's 5 (1,000 idle connections
    pinging every 5 s kept a fifth of a core busy, measured while each ping and its answer
    still crossed a thread of the connection's; :class:`SmallInline` keeps them in the
    loop's thread now). Two timeouts move along:

    - Kurigram asks the server to drop the connection ``WAIT_TIMEOUT + 10`` seconds after a
      ping (an integer on the wire); ``WAIT_TIMEOUT`` also bounds Kurigram's wait for a
      restarting session, which our per-call timeout bounds already;
    - its transport restarts a session that received nothing for ``TCP.TIMEOUT`` seconds
      (10: the pongs of 5 s pings kept it fed), a class-wide value that also bounds its
      connects and closes, which our per-call timeout and disconnect bound already. It
      must outlast the runtime's longest heartbeat tick (``cfg.longest_tick``, up to 10
      minutes when many clients run); a dead peer is found sooner by TCP keep-alive
      (:func:`~unifyport_telegram.backend.tcp_keepalive`, set by :func:`connection_class`)."""
    session.PING_INTERVAL = cfg.ping_interval
    session.WAIT_TIMEOUT = max(session.WAIT_TIMEOUT, math.ceil(cfg.ping_interval) + 5)
    TCP.TIMEOUT = max(TCP_TIMEOUT, math.ceil(cfg.longest_tick) + 15)


def stop_pings(session: Any) -> None:
    """End Kurigram's ping task (its stop event, which ``Session.stop`` sets and awaits
    too): the runtime's heartbeat sends a request every tick instead (``cfg.tick``:
    ``ping_interval`` seconds, longer when many clients run), a plain ``ping`` or the
    probe, one round trip where there were two. Its pings
    were ``ping_delay_disconnect``, asking the server to drop the connection when the next
    one is late; a probe does not renew that, so the heartbeat sends plain pings and a
    vanished client's connection is left to the server's own timeouts. The silence
    timeout set by :func:`keep_alive` stays: the heartbeat's answers feed it."""
    session.ping_task_event.set()


def session_string(data: SessionData, api_id: int) -> str:
    """Kurigram's session string (``>BI?256sQ?``) for ``data`` (user 0 while logging in)."""
    packed = struct.pack(">BI?256sQ?", data.dc_id, api_id, False, data.auth_key,
                         data.user_id or 0, data.is_bot)
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")
