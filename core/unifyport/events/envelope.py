"""The event JSON shape: the Standard Webhooks envelope plus the event id."""

from __future__ import annotations

from typing import Any

from unifyport.accounts.views import iso
from unifyport.db.models import Event


def envelope(ev: Event) -> dict[str, Any]:
    """``{"type", "timestamp", "data"}``: the body a sink delivers."""
    return {"type": ev.type, "timestamp": iso(ev.created_at), "data": ev.data}


def event_json(ev: Event) -> dict[str, Any]:
    """The API view: the envelope with its ``id``."""
    return {"id": ev.id, **envelope(ev)}
