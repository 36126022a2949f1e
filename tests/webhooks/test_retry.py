"""``Retry-After`` parsing: whatever a receiver sends yields seconds or ``None``, never raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from unifyport.events.sinks import parse_retry_after

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0),
    (" 120 ", 120.0),
    ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a past date means now
    (None, None),
    ("", None),
    ("soon", None),
    ("-5", None),
    ("²", None),  # str.isdigit() says yes, float() refuses
    ("٣", None),  # not an ASCII digit either
])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds
