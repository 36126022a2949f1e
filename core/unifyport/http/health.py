"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import tag
from sqlalchemy import text

from unifyport.errors import ApiError
from unifyport.http.context import gateway

bp = Blueprint("health", __name__)


@bp.get("/health")
@tag(["health"])
async def health() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


@bp.get("/ready")
@tag(["health"])
async def ready() -> dict[str, Any]:
    """The database answers and plugins are loaded."""
    gw = gateway()
    try:
        async with gw.db.read() as s:
            await s.execute(text("SELECT 1"))
    except Exception:
        raise ApiError(503, "not_ready", "database unavailable") from None
    return {"status": "ready", "providers": sorted(gw.registry.providers),
            "sinks": sorted(gw.registry.sinks)}
