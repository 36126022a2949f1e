"""``/v1/webhooks``: webhook endpoints stored through the API, and those of the
configuration file (``"source": "config"``, read-only but for enable/disable/recover/test)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.db.types import utcnow
from unifyport.delivery import admin
from unifyport.errors import ApiError, not_found
from unifyport.events.sinks import Target, TargetState, iso
from unifyport.gateway import Gateway
from unifyport.http.access import access, requires
from unifyport.http.body import json_body
from unifyport.http.context import gateway
from unifyport.http.webhook_schemas import (
    CreateWebhook,
    Recover,
    Recovered,
    RotateSecret,
    UpdateWebhook,
    WebhookDeleted,
    WebhookList,
    WebhookOut,
    WebhookTest,
    WebhookWithSecret,
)
from unifyport.query_values import timestamp
from unifyport.webhooks import service
from unifyport.webhooks.models import WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")
TAGS = ["webhooks"]


def _config_targets(gw: Gateway, sink: str) -> dict[str, Target]:
    """The sink's own targets (its configuration file endpoints), for an admin key only."""
    if not access().admin:
        return {}
    return {t.name: t for t in gw.registry.sinks[sink].targets()}


async def _states(s: AsyncSession, sink: str) -> dict[str, TargetState]:
    return {t.name: t for t in await admin.target_states(s, sink)}


async def _find(s: AsyncSession, gw: Gateway, sink: str, endpoint_id: str
                ) -> WebhookEndpoint | Target:
    """The stored endpoint (locked for the transaction) or the configured one; 404 when
    there is none or the key does not see it."""
    row = (await s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                           .with_for_update())).first()
    if row is not None and access().sees_all(row.account_ids):
        return row
    target = _config_targets(gw, sink).get(endpoint_id) if row is None else None
    if target is None:
        raise not_found("webhook endpoint")
    return target


async def _stored(s: AsyncSession, gw: Gateway, sink: str, endpoint_id: str) -> WebhookEndpoint:
    found = await _find(s, gw, sink, endpoint_id)
    if not isinstance(found, WebhookEndpoint):
        raise ApiError(409, "read_only", "this endpoint comes from the configuration file; "
                       "change it there")
    return found


def _json(gw: Gateway, found: WebhookEndpoint | Target, states: dict[str, TargetState],
          secret: str | None = None) -> dict[str, Any]:
    if isinstance(found, Target):
        return service.config_json(found, states.get(found.name))
    return service.endpoint_json(gw, found, states.get(found.id), secret)


async def _check_grant(s: AsyncSession, account_ids: list[str] | None) -> None:
    """The key may create an endpoint for these accounts (a scoped key: only for some of
    its own, 404 for others) and they exist."""
    if not access().sees_all(account_ids):
        if account_ids is None:
            raise ApiError(422, "validation_failed", "invalid request",
                           fields={"account_ids": "required for a key limited to accounts"})
        raise not_found("account")
    if account_ids is not None:
        await service.check_accounts(s, account_ids)


@bp.get("")
@tag(TAGS)
@requires("read")
@document_response(WebhookList)
async def list_() -> dict[str, Any]:
    """Webhook endpoints: stored ones (`source: api`) the key sees, then, for an admin key,
    those of the configuration file (`source: config`)."""
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.read() as s:
        rows = list(await s.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
        states = await _states(s, sink)
    found: list[WebhookEndpoint | Target] = [r for r in rows if access().sees_all(r.account_ids)]
    found += list(_config_targets(gw, sink).values())
    return {"data": [_json(gw, f, states) for f in found]}


@bp.post("")
@tag(TAGS)
@requires("control")
@document_request(CreateWebhook)
@document_response(WebhookWithSecret, 201)
async def create() -> tuple[dict[str, Any], int]:
    """Create an endpoint; the answer holds its signing secret, shown only here."""
    body = await json_body(CreateWebhook)
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.write() as s:
        await _check_grant(s, body.account_ids)
        row, secret = await service.create_endpoint(gw, s, sink, service.NewEndpoint(
            body.url, body.events, body.account_ids, body.description, body.headers,
            body.secret))
        await s.flush()
        out = _json(gw, row, await _states(s, sink), secret)
    await service.changed(gw)
    return out, 201


@bp.get("/<endpoint_id>")
@tag(TAGS)
@requires("read")
@document_response(WebhookOut)
async def get(endpoint_id: str) -> dict[str, Any]:
    """One endpoint with its state and delivery counts."""
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.read() as s:
        found = await _find(s, gw, sink, endpoint_id)
        return _json(gw, found, await _states(s, sink))


@bp.patch("/<endpoint_id>")
@tag(TAGS)
@requires("control")
@document_request(UpdateWebhook)
@document_response(WebhookOut)
async def patch(endpoint_id: str) -> dict[str, Any]:
    """Change a stored endpoint; a new `url` restarts its failure clock."""
    body = await json_body(UpdateWebhook)
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    for required in ("url", "events"):
        if required in changes and changes[required] is None:
            raise service.invalid(required, "may not be null")
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.write() as s:
        row = await _stored(s, gw, sink, endpoint_id)
        if "account_ids" in changes:
            await _check_grant(s, changes["account_ids"])
        await service.update_endpoint(gw, s, sink, row, changes)
        await s.flush()
        out = _json(gw, row, await _states(s, sink))
    await service.changed(gw)
    return out


@bp.delete("/<endpoint_id>")
@tag(TAGS)
@requires("control")
@document_response(WebhookDeleted)
async def delete(endpoint_id: str) -> dict[str, Any]:
    """Delete a stored endpoint: nothing is delivered to it from now on, attempts in
    flight included; its pending deliveries are dropped (and counted)."""
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.write() as s:
        row = await _stored(s, gw, sink, endpoint_id)
        dropped = await service.delete_endpoint(s, sink, row)
    service.forget(gw, [endpoint_id])
    return {"id": endpoint_id, "deleted": True, "dropped_deliveries": dropped}


@bp.post("/<endpoint_id>/rotate-secret")
@tag(TAGS)
@requires("control")
@document_request(RotateSecret)
@document_response(WebhookWithSecret)
async def rotate_secret(endpoint_id: str) -> dict[str, Any]:
    """A new signing secret (shown once); the old one signs alongside it for
    `grace_period` seconds (default `webhooks.rotation_grace`)."""
    body = await json_body(RotateSecret)
    gw = gateway()
    sink = service.sink_name(gw)
    grace = body.grace_period if body.grace_period is not None else \
        gw.settings.webhooks.rotation_grace.total_seconds()
    async with gw.db.write() as s:
        row = await _stored(s, gw, sink, endpoint_id)
        secret = await service.rotate_secret(gw, row, grace, body.secret)
        await s.flush()
        out = _json(gw, row, await _states(s, sink), secret)
    await service.changed(gw)
    return out


@bp.post("/<endpoint_id>/test")
@tag(TAGS)
@requires("control")
@document_response(WebhookTest, 202)
async def test(endpoint_id: str) -> tuple[dict[str, Any], int]:
    """Deliver a `webhook.test` event to this endpoint only."""
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.write() as s:
        await _find(s, gw, sink, endpoint_id)
        event_id = await service.send_test(s, sink, endpoint_id)
    await service.changed(gw)
    return {"event_id": event_id}, 202


async def _set_enabled(endpoint_id: str, enabled: bool) -> dict[str, Any]:
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.write() as s:
        found = await _find(s, gw, sink, endpoint_id)
        await admin.set_enabled(s, sink, endpoint_id, enabled,
                                None if enabled else "disabled through the API")
        await s.flush()
        out = _json(gw, found, await _states(s, sink))
    await service.changed(gw)
    return out


@bp.post("/<endpoint_id>/enable")
@tag(TAGS)
@requires("control")
@document_response(WebhookOut)
async def enable(endpoint_id: str) -> dict[str, Any]:
    """Re-enable an endpoint (clears its failure clock)."""
    return await _set_enabled(endpoint_id, True)


@bp.post("/<endpoint_id>/disable")
@tag(TAGS)
@requires("control")
@document_response(WebhookOut)
async def disable(endpoint_id: str) -> dict[str, Any]:
    """Disable an endpoint: its pending deliveries fail (`recover` requeues them)."""
    return await _set_enabled(endpoint_id, False)


@bp.post("/<endpoint_id>/recover")
@tag(TAGS)
@requires("control")
@document_request(Recover)
@document_response(Recovered, 202)
async def recover(endpoint_id: str) -> tuple[dict[str, Any], int]:
    """Requeue the endpoint's failed deliveries of events created since `since`."""
    body = await json_body(Recover)
    since: datetime = timestamp(body.since)
    gw = gateway()
    sink = service.sink_name(gw)
    async with gw.db.write() as s:
        await _find(s, gw, sink, endpoint_id)
        count = await admin.recover(s, sink, endpoint_id, since, utcnow())
    await service.changed(gw)
    return {"endpoint": endpoint_id, "since": iso(since), "requeued": count}, 202
