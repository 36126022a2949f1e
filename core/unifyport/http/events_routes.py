"""``/v1/events``: the event log (the outbox), newest first."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_querystring, tag

from unifyport.db import reads
from unifyport.db.repositories import EventRepository
from unifyport.delivery.admin import deliveries_json, redeliver
from unifyport.errors import ApiError, not_found
from unifyport.events.envelope import event_json
from unifyport.http.access import access, requires
from unifyport.http.body import query, raw_json
from unifyport.http.context import gateway
from unifyport.http.schemas import ListEventsQuery
from unifyport.query_values import seq_cursor, timestamp
from unifyport.webhooks.service import visible_endpoints

bp = Blueprint("events", __name__, url_prefix="/v1/events")


@bp.get("")
@tag(["events"])
@requires("read")
@document_querystring(ListEventsQuery)
async def list_() -> dict[str, Any]:
    """Events, newest first; filters ``type``, ``account_id``, ``since``."""
    q = query(ListEventsQuery)
    after = seq_cursor(q.cursor) if q.cursor else None
    since = timestamp(q.since) if q.since else None
    accounts = access().accounts
    if accounts is not None and q.account_id is not None and q.account_id not in accounts:
        return {"data": [], "next_cursor": None}
    rows = await reads.fetch_event_view_page(gateway().db, q.limit + 1, after, q.type,
                                             q.account_id, since, accounts)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return {"data": [event_json(e) for e in rows],
            "next_cursor": str(rows[-1].seq) if more else None}


@bp.get("/<event_id>")
@tag(["events"])
@requires("read")
async def get(event_id: str) -> dict[str, Any]:
    """One event and its deliveries per sink endpoint, each with its attempts."""
    async with gateway().db.read() as s:
        ev = await EventRepository(s).get(event_id)
        if ev is None or not access().sees(ev.account_id):
            raise not_found("event")
        deliveries = await deliveries_json(s, ev, await visible_endpoints(s, access().accounts))
    return {**event_json(ev), "deliveries": deliveries}


@bp.post("/<event_id>/redeliver")
@tag(["events"])
@requires("control")
async def redeliver_(event_id: str) -> tuple[dict[str, Any], int]:
    """Queue the event again for every matching endpoint (same ``webhook-id``); optional
    body ``{"sink", "endpoint"}`` narrows it to one."""
    body = await raw_json()
    sink, endpoint = body.get("sink"), body.get("endpoint")
    if not all(v is None or isinstance(v, str) for v in (sink, endpoint)):
        raise ApiError(422, "validation_failed", "sink and endpoint must be strings")
    async with gateway().db.write() as s:
        ev = await EventRepository(s).get(event_id)
        if ev is None or not access().sees(ev.account_id):
            raise not_found("event")
        queued = await redeliver(s, ev, sink, endpoint,
                                 await visible_endpoints(s, access().accounts))
    if not queued:
        raise ApiError(409, "no_matching_endpoint", "no endpoint receives this event")
    return {"event_id": event_id, "queued": queued}, 202
