"""One client TCP connection: plain key exchange, then MTProto 2.0 encrypted messages."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import logging
import os
import struct
import time

from telethon.errors import TypeNotFoundError
from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from .crypto import decrypt_message, encrypt_message
from .handshake import Handshake, HandshakeError
from .ports import Site
from .state import AuthKey
from .transport import Codec, TransportClosed

log = logging.getLogger(__name__)

CONTAINER = 0x73F1F8DC
GZIP_PACKED = 0x3072CFA1
RPC_RESULT = 0xF35C6D01
# Service messages a client may send that need no answer here (never an rpc_error).
_IGNORED = {
    types.MsgsAck.CONSTRUCTOR_ID,
    types.MsgsStateReq.CONSTRUCTOR_ID,
    types.MsgResendReq.CONSTRUCTOR_ID,
    types.MsgsStateInfo.CONSTRUCTOR_ID,
    types.MsgsAllInfo.CONSTRUCTOR_ID,
    types.MsgDetailedInfo.CONSTRUCTOR_ID,
    types.MsgNewDetailedInfo.CONSTRUCTOR_ID,
}
_ids = itertools.count(1)


def msg_id_problem(msg_id: int) -> int:
    """The ``bad_msg_notification`` code for a client msg_id, or 0 when it is fine:
    16 too old (> 300 s), 17 too new (> 30 s ahead), 18 not divisible by 4."""
    if msg_id % 4:
        return 18
    skew = (msg_id >> 32) - time.time()
    if skew < -300:
        return 16
    if skew > 30:
        return 17
    return 0


class Connection:
    """Serves one client socket on one data centre."""

    def __init__(
        self, dc: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.dc = dc
        self.id = next(_ids)
        self.codec = Codec(reader, writer)
        self.writer = writer
        self.key: AuthKey | None = None
        self.session_id = 0
        self._seq = 0
        self.wants_updates = False
        self.closed = False
        self._handshake: Handshake | None = None
        self._disconnect_timer: asyncio.TimerHandle | None = None

    # -- life cycle ----------------------------------------------------------
    async def serve(self) -> None:
        """Read and answer packets until the client goes away."""
        try:
            await self.codec.detect()
            while not self.closed:
                packet = await self.codec.recv()
                if len(packet) < 8:
                    break
                key_id = int.from_bytes(packet[:8], "little")
                if key_id == 0:
                    self._plain(packet)
                else:
                    self._encrypted(key_id, packet)
                await self.writer.drain()
        except (TransportClosed, ConnectionError, HandshakeError) as exc:
            log.debug("connection %s closed: %r", self.id, exc)
        except Exception:  # a malformed packet must not take anything else down
            log.warning("connection %s dropped after an unexpected error", self.id, exc_info=True)
        finally:
            self.close()

    def _arm_disconnect(self, delay: int) -> None:
        """``ping_delay_disconnect``: close unless another ping comes within ``delay`` s."""
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
        self._disconnect_timer = asyncio.get_running_loop().call_later(delay, self.close)

    def close(self) -> None:
        """Drop the socket and unregister."""
        if self.closed:
            return
        self.closed = True
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
        self.dc.sandbox.detach(self)
        self.writer.close()

    def transport_error(self, code: int) -> None:
        """Send a 4-byte transport error (e.g. -404) and close."""
        self.dc.sandbox.rpc.log_event(self, "transport_error", str(code))
        self.codec.send(struct.pack("<i", code))
        self.close()

    # -- plain messages (key exchange) ---------------------------------------
    def _plain(self, packet: bytes) -> None:
        length = struct.unpack("<i", packet[16:20])[0]
        body = packet[20 : 20 + length]
        if self._handshake is None:
            self._handshake = Handshake(self.dc.sandbox.server_key)
        answer, new_key = self._handshake.handle(body)
        if new_key is not None:
            self.dc.sandbox.store.add_key(new_key.key, self.dc.id, new_key.salt)
        msg_id = self.dc.sandbox.msg_ids.next(response=True)
        self.codec.send(struct.pack("<qqi", 0, msg_id, len(answer)) + answer)

    # -- encrypted messages --------------------------------------------------
    def _encrypted(self, key_id: int, packet: bytes) -> None:
        sandbox = self.dc.sandbox
        key = sandbox.store.keys.get(key_id)
        if key is None or key.dc_id != self.dc.id:
            self.transport_error(-404)
            return
        plain = decrypt_message(key.key, packet)
        if plain is None or len(plain) < 32:
            self.transport_error(-404)
            return
        salt, session_id, msg_id, seqno, length = struct.unpack("<qqqii", plain[:32])
        if self.key is not key:
            previous, self.key = self.key, key
            sandbox.attach(self, previous)
        if session_id != self.session_id:
            self.session_id = session_id
            self._seq = 0
            if sandbox.new_session(key_id, session_id):
                created = types.NewSessionCreated(
                    first_msg_id=msg_id,
                    unique_id=int.from_bytes(os.urandom(8), "little", signed=True),
                    server_salt=key.salt,
                )
                self.send(bytes(created), response=False)
        problem = msg_id_problem(msg_id)
        if problem:
            sandbox.rpc.log_event(self, "bad_msg_notification", str(problem))
            bad = types.BadMsgNotification(
                bad_msg_id=msg_id, bad_msg_seqno=seqno, error_code=problem
            )
            self.send(bytes(bad), response=True, content=False)
            return
        if salt != key.salt:
            sandbox.rpc.log_event(self, "bad_server_salt")
            bad = types.BadServerSalt(
                bad_msg_id=msg_id, bad_msg_seqno=seqno, error_code=48, new_server_salt=key.salt
            )
            self.send(bytes(bad), response=True, content=False)
            return
        self._message(msg_id, plain[32 : 32 + length])

    def _message(self, msg_id: int, body: bytes) -> None:
        constructor = struct.unpack("<I", body[:4])[0]
        if constructor == CONTAINER:
            self.dc.sandbox.stats["containers"] += 1
            count = struct.unpack("<i", body[4:8])[0]
            pos = 8
            for _ in range(count):
                inner_id, _seq, size = struct.unpack("<qii", body[pos : pos + 16])
                self._message(inner_id, body[pos + 16 : pos + 16 + size])
                pos += 16 + size
            return
        if constructor == GZIP_PACKED:
            self.dc.sandbox.rpc.log_event(self, "gzip_packed")
            with BinaryReader(body[4:]) as reader:
                self._message(msg_id, gzip.decompress(reader.tgread_bytes()))
            return
        if constructor in _IGNORED:
            return
        try:
            with BinaryReader(body) as reader:
                request = reader.tgread_object()
        except (TypeNotFoundError, struct.error, ValueError) as exc:
            log.warning("cannot parse request: %r", exc)
            error = types.RpcError(400, "INPUT_CONSTRUCTOR_INVALID")
            self.send_result(msg_id, bytes(error))
            return
        if isinstance(request, functions.PingRequest | functions.PingDelayDisconnectRequest):
            delayed = isinstance(request, functions.PingDelayDisconnectRequest)
            if delayed:
                self._arm_disconnect(request.disconnect_delay)
            self.dc.sandbox.rpc.log_event(self, "ping_delay_disconnect" if delayed else "ping")
            self.send(bytes(types.Pong(msg_id=msg_id, ping_id=request.ping_id)), response=True)
            return
        if isinstance(request, functions.DestroySessionRequest):
            answer = types.DestroySessionOk(session_id=request.session_id)
            self.send_result(msg_id, bytes(answer))
            return
        self.send_result(msg_id, self.dc.sandbox.rpc.call(self, request))

    # -- sending -------------------------------------------------------------
    def send(self, body: bytes, *, response: bool, content: bool = True) -> None:
        """Encrypt and queue one message for this connection's session."""
        key = self.key
        if key is None or self.closed:
            return
        if content:
            seqno = self._seq * 2 + 1
            self._seq += 1
        else:
            seqno = self._seq * 2
        msg_id = self.dc.sandbox.msg_ids.next(response)
        plain = struct.pack("<qqqii", key.salt, self.session_id, msg_id, seqno, len(body)) + body
        self.codec.send(encrypt_message(key.key, key.key_id, plain))

    def send_result(self, req_msg_id: int, result: bytes) -> None:
        """Answer a request with ``rpc_result``."""
        self.send(struct.pack("<Iq", RPC_RESULT, req_msg_id) + result, response=True)
