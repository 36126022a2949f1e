"""Event-type patterns: ``*`` matches everything, ``message.*`` every type under ``message.``
(:func:`unifyport.events.sinks.valid_pattern` says which are valid)."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from sqlalchemy import ColumnElement, false, func, or_, true

TARGETED_TYPES = ("webhook.test",)
"""Event types delivered only to the endpoint they were made for, never fanned out."""


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
