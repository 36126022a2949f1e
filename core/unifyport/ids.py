"""Prefixed, time-ordered identifiers (``acc_…``, ``evt_…``, ``key_…``)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """``<prefix>_`` + 26 characters: 48-bit millisecond time then 80 random bits.

    Ids made later sort after earlier ones (to the millisecond)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return f"{prefix}_{''.join(reversed(chars))}"
