"""HTTP routes registered by plugins through ``register_routes``, without touching Quart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, request
from quart_schema import tag

from unifyport.errors import ConfigError
from unifyport.http.body import raw_json
from unifyport.plugins.routes import Route, RouteRequest


def plugin_blueprint(routes: list[Route]) -> Blueprint:
    """One blueprint holding every plugin route; refuses duplicates and paths outside /v1."""
    bp = Blueprint("plugin_routes", __name__)
    seen: set[tuple[str, str]] = set()
    for i, route in enumerate(routes):
        key = (route.method.upper(), route.path)
        if not route.path.startswith("/v1/") or key in seen:
            raise ConfigError("plugins", f"invalid or duplicate plugin route {key}")
        seen.add(key)
        bp.add_url_rule(route.path, f"r{i}", _view(route), methods=[key[0]])
    return bp


def _view(route: Route) -> Callable[..., Awaitable[tuple[Any, int]]]:
    async def view(**path_params: str) -> tuple[Any, int]:
        body = await raw_json() if request.method in ("POST", "PUT", "PATCH") else {}
        status, payload = await route.handler(
            RouteRequest(path_params, dict(request.args.items()), body)
        )
        return payload, status

    view.__doc__ = route.summary
    return tag(list(route.tags))(view) if route.tags else view
