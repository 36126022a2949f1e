"""Telethon's update box traces every update it handles; our clients' box skips that work
unless the ``telethon.messagebox`` logger keeps trace records when the client is made (the
trace is then Telethon's own, whole)."""

from __future__ import annotations

import logging

import pytest
from telethon import types
from telethon._updates.messagebox import LOG_LEVEL_TRACE

from unifyport_telegram.backends.telethon_backend import TelethonClient
from unifyport_telegram.config import TelegramConfig

API_HASH = "0123456789abcdef0123456789abcdef"
DATE = 1_767_225_600  # the box loads a state's date as a timestamp


def traces(client: TelethonClient, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(LOG_LEVEL_TRACE, logger="telethon.messagebox"):
        client._client._message_box.load(types.updates.State(
            pts=7, qts=1, date=DATE, seq=2, unread_count=0), [])
    return [r.getMessage() for r in caplog.records if r.levelno == LOG_LEVEL_TRACE]


def test_the_update_box_traces_only_when_its_logger_keeps_trace_records(
        caplog: pytest.LogCaptureFixture) -> None:
    quiet = TelethonClient(TelegramConfig(), 1, API_HASH, None)
    logger = logging.getLogger("telethon.messagebox")
    logger.setLevel(LOG_LEVEL_TRACE)
    try:
        traced = TelethonClient(TelegramConfig(), 1, API_HASH, None)
    finally:
        logger.setLevel(logging.NOTSET)
    assert traces(quiet, caplog) == []
    assert any("Loading MessageBox" in m for m in traces(traced, caplog))
    for client in (quiet, traced):  # the same state either way
        assert client._client._message_box.session_state()[0]["pts"] == 7
