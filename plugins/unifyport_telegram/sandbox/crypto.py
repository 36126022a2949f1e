"""Cryptographic primitives of the sandbox: RSA server key, DH prime, MTProto 2.0 framing."""

from __future__ import annotations

import hashlib
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from telethon.crypto import AES

#: Telegram's 2048-bit DH prime (Pyrogram refuses any other), used with g = 3.
DH_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
    16,
)
DH_G = 3
DH_PRIME_BYTES = DH_PRIME.to_bytes(256, "big")


def sha1(*parts: bytes) -> bytes:
    """SHA-1 of the concatenation of ``parts``."""
    h = hashlib.sha1()  # noqa: S324 - mandated by MTProto
    for p in parts:
        h.update(p)
    return h.digest()


def sha256(*parts: bytes) -> bytes:
    """SHA-256 of the concatenation of ``parts``."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def tl_bytes(data: bytes) -> bytes:
    """TL serialisation of a ``bytes`` value."""
    n = len(data)
    head = bytes([n]) if n < 254 else b"\xfe" + n.to_bytes(3, "little")
    out = head + data
    return out + b"\x00" * (-len(out) % 4)


def int_bytes(value: int) -> bytes:
    """Minimal big-endian encoding of a non-negative integer."""
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


@dataclass(frozen=True)
class ServerKey:
    """The sandbox's RSA key pair (clients are told to trust the public half)."""

    n: int
    e: int
    d: int
    public_pem: bytes
    p: int = 0
    q: int = 0

    @property
    def fingerprint(self) -> int:
        """Signed 64-bit fingerprint as Telegram computes it."""
        digest = sha1(tl_bytes(int_bytes(self.n)) + tl_bytes(int_bytes(self.e)))
        return int(struct.unpack("<q", digest[-8:])[0])

    def decrypt_raw(self, data: bytes) -> bytes:
        """Textbook RSA decryption (the old ``sha1 + data + random`` padding)."""
        c = int.from_bytes(data, "big")
        if self.p and self.q:  # CRT: four times faster than one pow with d
            m1 = pow(c, self.d % (self.p - 1), self.p)
            m2 = pow(c, self.d % (self.q - 1), self.q)
            h = (pow(self.q, -1, self.p) * (m1 - m2)) % self.p
            value = m2 + h * self.q
        else:
            value = pow(c, self.d, self.n)
        return value.to_bytes(256, "big")

    @classmethod
    def load_or_create(cls, directory: Path) -> ServerKey:
        """Load ``private.pem`` from ``directory`` or generate a new 2048-bit key there."""
        private_file = directory / "private.pem"
        public_file = directory / "public.pem"
        if private_file.exists():
            key = serialization.load_pem_private_key(private_file.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            private_file.write_bytes(pem)
            private_file.chmod(0o600)
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        if not public_file.exists() or public_file.read_bytes() != public_pem:
            public_file.write_bytes(public_pem)
        numbers = key.private_numbers()
        pub = numbers.public_numbers
        return cls(pub.n, pub.e, numbers.d, public_pem, numbers.p, numbers.q)


def auth_key_id(auth_key: bytes) -> int:
    """The 64-bit id of an auth key (little-endian, unsigned), as sent on the wire."""
    return int.from_bytes(sha1(auth_key)[-8:], "little")


def _kdf(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    a = sha256(msg_key, auth_key[x : x + 36])
    b = sha256(auth_key[x + 40 : x + 76], msg_key)
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


def decrypt_message(auth_key: bytes, packet: bytes) -> bytes | None:
    """Decrypt a client→server packet (after the 8-byte key id); None if it does not verify."""
    msg_key = packet[8:24]
    body = packet[24:]
    if len(body) % 16 or not body:
        return None
    key, iv = _kdf(auth_key, msg_key, 0)
    plain = AES.decrypt_ige(body, key, iv)
    if sha256(auth_key[88:120], plain)[8:24] != msg_key:
        return None
    return bytes(plain)


def encrypt_message(auth_key: bytes, key_id: int, plain: bytes) -> bytes:
    """Encrypt a server→client message (``plain`` = salt, session id, msg id, seqno, body)."""
    padding = os.urandom(-(len(plain) + 12) % 16 + 12)
    data = plain + padding
    msg_key = sha256(auth_key[96:128], data)[8:24]
    key, iv = _kdf(auth_key, msg_key, 8)
    return key_id.to_bytes(8, "little") + msg_key + bytes(AES.encrypt_ige(data, key, iv))


class MsgIdGenerator:
    """Strictly increasing server msg ids close to the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, response: bool) -> int:
        """A new id: ≡ 1 (mod 4) for responses, ≡ 3 for messages the server starts."""
        base = int(time.time() * 2**32) & ~3
        if base <= self._last & ~3:
            base = (self._last & ~3) + 4
        self._last = base | (1 if response else 3)
        return self._last
