"""Prefixed, time-ordered identifiers (``acc_…``, ``evt_…``, ``key_…``)."""

from __future__ import annotations

import base64
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)


def new_id(prefix: str) -> str:
    """``<prefix>_`` + 26 characters: 48-bit millisecond time then 80 random bits, the
    128-bit number written in base 32 (the first character carries its top 3 bits).

    Ids made later sort after earlier ones (to the millisecond)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    # 130 bits (2 leading zeros) left-aligned in 17 bytes: base64's base32 reads them 5 at
    # a time from the top, as the number's digits (one C call, not 26 divisions).
    digits = base64.b32encode((value << 6).to_bytes(17, "big"))[:26]
    return f"{prefix}_{digits.decode().translate(_FROM_RFC4648)}"
