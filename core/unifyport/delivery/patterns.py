"""Event-type patterns: ``*`` matches everything, ``message.*`` every type under ``message.``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from sqlalchemy import ColumnElement, false, func, or_, true

_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")


def valid_pattern(pattern: str) -> bool:
    """``*``, an exact dotted type, or a dotted prefix ending in ``.*``."""
    return bool(_PATTERN.match(pattern))


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether any pattern matches ``event_type``."""
    return any(fnmatchcase(event_type, p) for p in patterns)


def sql_filter(patterns: Iterable[str], column: ColumnElement[str]) -> ColumnElement[bool]:
    """The SQL condition equivalent to :func:`matches` (case-sensitive on every dialect)."""
    conditions: list[ColumnElement[bool]] = []
    for p in patterns:
        if p == "*":
            return true()
        if p.endswith(".*"):
            prefix = p[:-1]
            conditions.append(func.substr(column, 1, len(prefix)) == prefix)
        else:
            conditions.append(column == p)
    return or_(false(), *conditions)
