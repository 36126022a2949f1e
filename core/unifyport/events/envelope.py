"""The event JSON shape: the Standard Webhooks envelope plus the event id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from unifyport.accounts.views import iso
from unifyport.db.models import Event


def envelope(ev: Event | Row[Any]) -> dict[str, Any]:
    """``{"type", "timestamp", "data"}``: the body a sink delivers."""
    return {"type": ev.type, "timestamp": iso(ev.created_at), "data": ev.data}


def event_json(ev: Event | Row[Any]) -> dict[str, Any]:
    """The API view: the envelope with its ``id`` (of a model instance or an events row)."""
    return {"id": ev.id, **envelope(ev)}
