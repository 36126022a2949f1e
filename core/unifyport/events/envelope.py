"""The event JSON shape: the Standard Webhooks envelope plus the event id."""

from __future__ import annotations

from typing import Any

from unifyport.db.models import Event
from unifyport.db.reads import EventView
from unifyport.events.sinks import iso


def envelope(ev: Event | EventView) -> dict[str, Any]:
    """``{"type", "timestamp", "data"}``: the body a sink delivers."""
    return {"type": ev.type, "timestamp": iso(ev.created_at), "data": ev.data}


def event_json(ev: Event | EventView) -> dict[str, Any]:
    """The API view: the envelope with its ``id`` (of a model instance or a view)."""
    return {"id": ev.id, **envelope(ev)}
