"""Run a block with UnifyPort's real logging set-up writing into a string, then restore."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from unifyport.logs import configure_logging
from unifyport.settings import LoggingSettings

_NAMED = ("unifyport", "unifyport_telegram", "unifyport_webhook", "hypercorn.error")


@contextmanager
def captured_log(settings: LoggingSettings) -> Iterator[io.StringIO]:
    """What ``configure_logging(settings)`` makes of every record, as text."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level,
             {name: logging.getLogger(name).level for name in _NAMED})
    buffer = io.StringIO()
    configure_logging(settings, stream=buffer)
    try:
        yield buffer
    finally:
        handlers, level, levels = saved
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, named_level in levels.items():
            logging.getLogger(name).setLevel(named_level)
