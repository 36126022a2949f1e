"""Parsers for untrusted query values (pagination cursors, RFC 3339 times): every malformed
or out-of-range value is a 400 ``invalid_request``, never an exception deeper down."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime

from unifyport.db.repositories import Cursor
from unifyport.errors import ApiError

MAX_SEQ = (1 << 63) - 1
"""The largest event sequence number (a signed 64-bit column)."""
MAX_CURSOR = 200
"""Longest cursor accepted (this server's cursors are well under 100 characters)."""


def _bad(what: str) -> ApiError:
    return ApiError(400, "invalid_request", f"invalid {what}")


def timestamp(text: str, what: str = "since") -> datetime:
    """An RFC 3339 time with an offset, as UTC; 400 when malformed, naive or outside the
    calendar once converted to UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if value.tzinfo is None:
            raise ApiError(400, "invalid_request", f"{what} must carry a timezone (e.g. Z)")
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(what) from None


def seq_cursor(text: str) -> int:
    """An event-list cursor: a sequence number in 0 .. 2^63-1."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or int(text) > MAX_SEQ:
        raise _bad("cursor")
    return int(text)


def time_cursor(text: str) -> tuple[datetime, str]:
    """An account-list cursor: (creation time, id) of the last row of the previous page."""
    if len(text) > MAX_CURSOR:
        raise _bad("cursor")
    try:
        values = Cursor.decode(text)
    except (ValueError, binascii.Error, RecursionError):
        raise _bad("cursor") from None
    if len(values) != 2 or not all(isinstance(v, str) for v in values):
        raise _bad("cursor")
    return timestamp(values[0], "cursor"), values[1]
