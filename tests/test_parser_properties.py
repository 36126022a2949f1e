"""Property tests for the parsers of untrusted input: session files and strings, cursors and
times, durations and Retry-After values, outbound URLs. Whatever the input, each answers its
own refusal (never another exception) within a time bound (issue #19)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unifyport.errors import ApiError, ConfigError
from unifyport.outbound.addresses import OutboundRefused
from unifyport.outbound.policy import OutboundPolicy
from unifyport.providers import StepError
from unifyport.query_values import seq_cursor, time_cursor, timestamp
from unifyport.sdk import parse_retry_after
from unifyport_telegram.session_import import SQLITE_MAGIC, parse_content
from unifyport_webhook.config import duration

BOUND = 2.5
"""Seconds any one parse may take (the session file deadline is 2 s)."""
EXAMPLES = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def bounded(fn: Callable[[], Any], *refusals: type[Exception]) -> None:
    started = time.monotonic()
    try:
        fn()
    except refusals:
        pass
    assert time.monotonic() - started < BOUND


def _sqlite_file(statements: list[str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.session"
        with sqlite3.connect(path) as db:
            for sql in statements:
                try:
                    db.execute(sql)
                except sqlite3.Error:
                    pass
        return path.read_bytes()


_COLUMN = st.sampled_from(["dc_id", "auth_key", "takeout_id", "user_id", "is_bot", "x"])
_VALUE = st.sampled_from(["1", "-1", "99999999999999999999", "x'00'", "zeroblob(256)", "NULL",
                          "'text'", "2.5", "randomblob(256)"])


@st.composite
def session_files(draw: st.DrawFn) -> bytes:
    """SQLite files with a ``sessions`` table, view or neither, of varied columns and rows."""
    cols = sorted(set(draw(st.lists(_COLUMN, min_size=1, max_size=5))))
    kind = draw(st.sampled_from(["TABLE", "VIEW", "NONE"]))
    values = [draw(_VALUE) for _ in cols]
    statements = ["CREATE TABLE entities (id, hash)",
                  f"INSERT INTO entities VALUES (0, {draw(_VALUE)})"]
    if kind == "TABLE":
        statements += [f"CREATE TABLE sessions ({', '.join(cols)})",
                       f"INSERT INTO sessions VALUES ({', '.join(values)})"]
    elif kind == "VIEW":
        statements.append("CREATE VIEW sessions AS SELECT "
                          + ", ".join(f"{v} AS {c}" for c, v in zip(cols, values, strict=True)))
    return _sqlite_file(statements)


@EXAMPLES
@given(st.one_of(session_files(), st.binary(max_size=2048),
                 st.binary(max_size=512).map(lambda b: SQLITE_MAGIC + b),
                 st.text(max_size=400).map(str.encode)))
def test_session_content(content: bytes) -> None:
    def parse() -> None:
        try:
            parse_content(content)
        except StepError as err:
            assert err.code == "invalid_session"
            raise
    bounded(parse, StepError)


@EXAMPLES
@given(st.text(max_size=300))
def test_cursors_and_times(text: str) -> None:
    for fn in (seq_cursor, time_cursor, timestamp):
        def parse(fn: Callable[[str], Any] = fn) -> None:
            try:
                fn(text)
            except ApiError as err:
                assert err.status == 400
                raise
        bounded(parse, ApiError)


@EXAMPLES
@given(st.datetimes(timezones=st.timezones()))
def test_any_aware_time_parses_or_is_400(when: datetime) -> None:
    try:
        assert timestamp(when.isoformat()) == when.astimezone(UTC)
    except (ApiError, OverflowError):  # OverflowError: the strategy's own conversion
        pass


@EXAMPLES
@given(st.one_of(st.text(max_size=60), st.integers(), st.floats(), st.none(), st.booleans()))
def test_durations_and_retry_after(value: Any) -> None:
    bounded(lambda: duration(value, "k"), ConfigError)
    if isinstance(value, str):
        result = parse_retry_after(value, datetime.now(UTC))
        assert result is None or result >= 0


@EXAMPLES
@given(st.one_of(st.text(max_size=200),
                 st.builds(lambda h, p: f"http://{h}/{p}", st.text(max_size=60),
                           st.text(max_size=30))))
def test_outbound_urls(url: str) -> None:
    policy = OutboundPolicy(())
    bounded(lambda: policy.check_url(url, https_only_unless_allowed=True), OutboundRefused)
