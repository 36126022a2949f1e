"""Auth-key exchange (``req_pq_multi`` → ``req_DH_params`` → ``set_client_DH_params``)."""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass

from telethon.crypto import AES
from telethon.crypto import AuthKey as TelethonAuthKey
from telethon.extensions import BinaryReader
from telethon.helpers import generate_key_data_from_nonce
from telethon.tl import functions, types

from .crypto import DH_G, DH_PRIME, ServerKey, int_bytes, sha1

# A fixed pq with a small factor: both libraries factorise it in well under a millisecond
# (Telegram's own pq have two ~32-bit factors and cost clients 25-60 ms of Python).
_P, _Q = 65521, 2147483647  # pq < 2**47: Telethon reads pq as signed
# Server DH exponent size: 320 bits keeps g^a in the required range and costs a sixth of a
# 2048-bit exponent (a test server needs no more).
_EXPONENT_BYTES = 40
_SAFETY = 2 ** (2048 - 64)


class HandshakeError(Exception):
    """The client sent something the exchange cannot accept."""


@dataclass
class _Pending:
    nonce: int
    server_nonce: int
    new_nonce: int = 0
    a: int = 0


@dataclass
class NewKey:
    """Result of a completed exchange."""

    key: bytes
    salt: int


class Handshake:
    """Per-connection state of the plain-text key exchange."""

    def __init__(self, server_key: ServerKey) -> None:
        self.server_key = server_key
        self._pending: dict[int, _Pending] = {}

    def handle(self, body: bytes) -> tuple[bytes, NewKey | None]:
        """Answer one plain message body; returns the answer and the new key when done."""
        with BinaryReader(body) as reader:
            request = reader.tgread_object()
        if isinstance(request, (functions.ReqPqMultiRequest, functions.ReqPqRequest)):
            server_nonce = int.from_bytes(os.urandom(16), "big", signed=True)
            self._pending[request.nonce] = _Pending(request.nonce, server_nonce)
            answer = types.ResPQ(
                nonce=request.nonce,
                server_nonce=server_nonce,
                pq=int_bytes(_P * _Q),
                server_public_key_fingerprints=[self.server_key.fingerprint],
            )
            return bytes(answer), None
        if isinstance(request, functions.ReqDHParamsRequest):
            return self._dh_params(request), None
        if isinstance(request, functions.SetClientDHParamsRequest):
            return self._client_dh(request)
        raise HandshakeError(f"unexpected plain message {type(request).__name__}")

    def _state(self, nonce: int, server_nonce: int) -> _Pending:
        state = self._pending.get(nonce)
        if state is None or state.server_nonce != server_nonce:
            raise HandshakeError("unknown nonce")
        return state

    def _dh_params(self, req: functions.ReqDHParamsRequest) -> bytes:
        state = self._state(req.nonce, req.server_nonce)
        if req.public_key_fingerprint != self.server_key.fingerprint:
            raise HandshakeError("unknown public key fingerprint")
        plain = self.server_key.decrypt_raw(req.encrypted_data)[1:]
        with BinaryReader(plain[20:]) as reader:
            inner = reader.tgread_object()
            size = reader.tell_position()
        if sha1(plain[20 : 20 + size]) != plain[:20]:
            raise HandshakeError("bad hash in p_q_inner_data")
        if not isinstance(inner, types.PQInnerData | types.PQInnerDataDc):
            raise HandshakeError("unexpected inner data")
        if inner.nonce != state.nonce or inner.server_nonce != state.server_nonce:
            raise HandshakeError("nonce mismatch")
        state.new_nonce = inner.new_nonce
        while True:
            state.a = int.from_bytes(os.urandom(_EXPONENT_BYTES), "big")
            g_a = pow(DH_G, state.a, DH_PRIME)
            if _SAFETY < g_a < DH_PRIME - _SAFETY:
                break
        inner_answer = bytes(
            types.ServerDHInnerData(
                nonce=state.nonce,
                server_nonce=state.server_nonce,
                g=DH_G,
                dh_prime=DH_PRIME.to_bytes(256, "big"),
                g_a=g_a.to_bytes(256, "big"),
                server_time=int(time.time()),
            )
        )
        data = sha1(inner_answer) + inner_answer
        data += os.urandom(-len(data) % 16)
        key, iv = generate_key_data_from_nonce(state.server_nonce, state.new_nonce)
        return bytes(
            types.ServerDHParamsOk(
                nonce=state.nonce,
                server_nonce=state.server_nonce,
                encrypted_answer=bytes(AES.encrypt_ige(data, key, iv)),
            )
        )

    def _client_dh(self, req: functions.SetClientDHParamsRequest) -> tuple[bytes, NewKey]:
        state = self._state(req.nonce, req.server_nonce)
        key, iv = generate_key_data_from_nonce(state.server_nonce, state.new_nonce)
        plain = AES.decrypt_ige(req.encrypted_data, key, iv)
        with BinaryReader(plain[20:]) as reader:
            inner = reader.tgread_object()
        if not isinstance(inner, types.ClientDHInnerData):
            raise HandshakeError("unexpected client DH inner data")
        g_b = int.from_bytes(inner.g_b, "big")
        if not _SAFETY < g_b < DH_PRIME - _SAFETY:
            raise HandshakeError("g_b out of range")
        auth_key = pow(g_b, state.a, DH_PRIME).to_bytes(256, "big")
        tkey = TelethonAuthKey(auth_key)
        answer = types.DhGenOk(
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            new_nonce_hash1=tkey.calc_new_nonce_hash(state.new_nonce, 1),
        )
        new_nonce = state.new_nonce.to_bytes(32, "little", signed=True)
        server_nonce = state.server_nonce.to_bytes(16, "little", signed=True)
        salt = struct.unpack(
            "<q", bytes(a ^ b for a, b in zip(new_nonce[:8], server_nonce[:8], strict=True))
        )[0]
        del self._pending[state.nonce]
        return bytes(answer), NewKey(auth_key, int(salt))
