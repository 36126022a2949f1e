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
    """Every component is ready: the database answers, every event sink's task runs, the
    runtime supervisor keeps its leases. Else 503 ``not_ready`` naming the components."""
    gw = gateway()
    components = {"database": "ok", "sinks": "ok", "runtime": "ok"}
    try:
        async with gw.db.read() as s:
            await s.execute(text("SELECT 1"))
    except Exception:
        components["database"] = "unavailable"
    stopped = sorted(t.get_name().removeprefix("sink:") for t in gw.sink_tasks if t.done())
    if stopped or len(gw.sink_tasks) < len(gw.registry.sinks):
        components["sinks"] = "stopped: " + ", ".join(stopped or sorted(gw.registry.sinks))
    # The supervisor's lease loop (its task is private to it: read, never touched).
    maintainer = getattr(gw.runtime, "_maintainer", None)
    if maintainer is None or maintainer.done():
        components["runtime"] = "not running"
    failing = [name for name, state in components.items() if state != "ok"]
    if failing:
        raise ApiError(503, "not_ready", f"not ready: {', '.join(failing)}",
                       components=components)
    return {"status": "ready", "components": components,
            "providers": sorted(gw.registry.providers), "sinks": sorted(gw.registry.sinks)}
