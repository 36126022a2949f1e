"""What a plugin's HTTP route is (``register_routes``): plain data, no web framework; the
core mounts it (``unifyport.http.plugin_routes``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RouteRequest:
    """What a plugin route handler receives."""

    path_params: Mapping[str, str]
    query: Mapping[str, str]
    json: Mapping[str, Any]


@dataclass(frozen=True)
class Route:
    """A plugin route: ``path`` uses ``<name>`` placeholders and must start with ``/v1/``.

    ``handler`` returns ``(status, json_body)``; raise :class:`unifyport.errors.ApiError`
    for errors (rendered in the JSON error format)."""

    method: str
    path: str
    handler: Callable[[RouteRequest], Awaitable[tuple[int, Any]]]
    summary: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
