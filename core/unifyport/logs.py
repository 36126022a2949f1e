"""Logging: levels, text or JSON lines, request ids, redaction, rate-limited library warnings.

Every line goes through one handler on the root logger. UnifyPort's loggers (``unifyport*``,
which includes the built-in plugins, and hypercorn's own ``hypercorn.error``) log at
``[logging] level``; every other library at ``[logging] libraries`` (``warning``), so
their chatter stays out while their warnings stay in, at most one line per message per
:data:`RATE_WINDOW` while it repeats (a client reconnecting to a server that is down).

Nothing a library logs may carry a message body, a code, a password or a session: client
libraries print whole requests (``SendMessageRequest(peer=…, message='…')``) in some error
lines. Every line is therefore redacted: a quoted string or bytes literal that is a value
(after ``=`` or ``:``) is replaced by ``'<redacted>'``, in the message and the traceback.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from unifyport.settings import LoggingSettings


class _Slot:
    """The id of one request, emptied when it ends: tasks started while it was handled
    inherit the slot (context variables are copied into new tasks), so a helper task logs
    with the id while the request lasts and a long-lived one (a runtime) without it after."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value: str | None = value


_REQUEST: ContextVar[_Slot | None] = ContextVar("unifyport_request", default=None)


def request_id() -> str | None:
    """The id of the HTTP request being handled, if any."""
    slot = _REQUEST.get()
    return slot.value if slot is not None else None


def begin_request(rid: str) -> None:
    """Called by ``unifyport.http.observe`` when a request starts."""
    _REQUEST.set(_Slot(rid))


def end_request() -> None:
    """Called when the request has been answered."""
    slot = _REQUEST.get()
    if slot is not None:
        slot.value = None


OWN = ("unifyport", "hypercorn.error")
"""Logger name prefixes at UnifyPort's own level (``unifyport`` covers ``unifyport_*``)."""
RATE_WINDOW = 60.0
"""Seconds during which a repeated library warning is shown once."""
_HANDLER_NAME = "unifyport"

_VALUE = re.compile(r"""(?P<lead>[=:]\s*)[bB]?(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")


def redact(text: str) -> str:
    """``text`` with every quoted value (``message='hi'``, ``"text": "hi"``, ``b'…'``)
    replaced by ``'<redacted>'``."""
    return _VALUE.sub(r"\g<lead>'<redacted>'", text)


def own(name: str) -> bool:
    return name.startswith(OWN)


class _Context(logging.Filter):
    """Adds ``request_id`` (or ``None``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True


class RateLimit(logging.Filter):
    """A library's warning (same logger, level and message template) at most once per
    ``window`` seconds; the next one shown says how many were suppressed."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        super().__init__()
        self.window = window
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if own(record.name) or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            shown, suppressed = self._seen.get(key, (-self.window, 0))
            if now - shown < self.window:
                self._seen[key] = (shown, suppressed + 1)
                return False
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = (now, 0)
        record.suppressed = suppressed
        return True


class TextFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,000 INFO unifyport.x [req_…]: message``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f" [{rid}]" if rid else ""
        return redact(super().format(record) + _suppressed(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, and
    ``request_id``, ``exc_info`` when present; redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage() + _suppressed(record)),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            line["request_id"] = rid
        if record.exc_info:
            line["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def _suppressed(record: logging.LogRecord) -> str:
    n = getattr(record, "suppressed", 0)
    return f" ({n} more like this in the last {RATE_WINDOW:.0f} s not shown)" if n else ""


def configure_logging(settings: LoggingSettings, stream: IO[str] | None = None) -> None:
    """Install the one handler (replacing an earlier one of ours) and the levels."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    handler.addFilter(_Context())
    handler.addFilter(RateLimit())
    root.addHandler(handler)
    root.setLevel(settings.libraries.upper())
    level = settings.level.upper()
    for name in ("unifyport", "unifyport_telegram", "unifyport_webhook", "hypercorn.error"):
        logging.getLogger(name).setLevel(level)
