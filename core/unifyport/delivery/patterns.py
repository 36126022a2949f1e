"""Event-type patterns: ``*`` matches everything, ``message.*`` every type under ``message.``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")


def valid_pattern(pattern: str) -> bool:
    """``*``, an exact dotted type, or a dotted prefix ending in ``.*``."""
    return bool(_PATTERN.match(pattern))


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether any pattern matches ``event_type``."""
    return any(fnmatchcase(event_type, p) for p in patterns)
