"""Server side of Telegram's SRP 2FA check (``account.getPassword`` / ``auth.checkPassword``)."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass

from .crypto import DH_G, DH_PRIME, DH_PRIME_BYTES, sha256


def _pad(value: int) -> bytes:
    return value.to_bytes(256, "big")


def password_hash(password: str, salt1: bytes, salt2: bytes) -> int:
    """x = PH2(password, salt1, salt2)."""
    h1 = sha256(salt1, password.encode(), salt1)
    h2 = sha256(salt2, h1, salt2)
    h3 = hashlib.pbkdf2_hmac("sha512", h2, salt1, 100000)
    return int.from_bytes(sha256(salt2, h3, salt2), "big")


def make_verifier(password: str) -> tuple[bytes, bytes, int]:
    """New salts and the verifier v = g^x for a password."""
    salt1, salt2 = os.urandom(40), os.urandom(16)
    return salt1, salt2, pow(DH_G, password_hash(password, salt1, salt2), DH_PRIME)


_K = int.from_bytes(sha256(DH_PRIME_BYTES, _pad(DH_G)), "big")


@dataclass
class Challenge:
    """One ``account.password`` answer waiting for ``auth.checkPassword``."""

    srp_id: int
    user_id: int
    b: int
    B: int
    salt1: bytes
    salt2: bytes
    v: int

    @property
    def B_bytes(self) -> bytes:
        """B as 256 big-endian bytes."""
        return _pad(self.B)


def new_challenge(user_id: int, salt1: bytes, salt2: bytes, v: int) -> Challenge:
    """Pick b and compute B = k·v + g^b."""
    b = int.from_bytes(os.urandom(256), "big")
    big_b = (_K * v + pow(DH_G, b, DH_PRIME)) % DH_PRIME
    srp_id = secrets.randbits(63)
    return Challenge(srp_id, user_id, b, big_b, salt1, salt2, v)


def check(ch: Challenge, a_bytes: bytes, m1: bytes) -> bool:
    """Verify the client's A and M1 against the challenge."""
    a_int = int.from_bytes(a_bytes, "big")
    if not 1 < a_int < DH_PRIME - 1:
        return False
    a_pad, b_pad = _pad(a_int), ch.B_bytes
    u = int.from_bytes(sha256(a_pad, b_pad), "big")
    s = pow(a_int * pow(ch.v, u, DH_PRIME) % DH_PRIME, ch.b, DH_PRIME)
    k_hash = sha256(_pad(s))
    hp, hg = sha256(DH_PRIME_BYTES), sha256(_pad(DH_G))
    expected = sha256(
        bytes(x ^ y for x, y in zip(hp, hg, strict=True)),
        sha256(ch.salt1),
        sha256(ch.salt2),
        a_pad,
        b_pad,
        k_hash,
    )
    return secrets.compare_digest(expected, m1)
