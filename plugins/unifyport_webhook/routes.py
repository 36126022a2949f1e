"""``/v1/webhooks/endpoints``: list endpoints, recover failed deliveries, re-enable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from unifyport.sdk import (
    ApiError,
    Route,
    RouteRequest,
    SinkControl,
    TargetState,
    iso,
    not_found,
    target_state_json,
)
from unifyport_webhook.config import Endpoint
from unifyport_webhook.sink import WebhookSink

Handler = Callable[[RouteRequest], Awaitable[tuple[int, Any]]]


def routes(sink: WebhookSink) -> list[Route]:
    tags = ("webhooks",)
    return [
        Route("GET", "/v1/webhooks/endpoints", _list(sink),
              "Configured webhook endpoints: enabled, failing since, delivery counts.", tags),
        Route("POST", "/v1/webhooks/endpoints/<name>/recover", _recover(sink),
              "Redeliver every failed event since `since` (RFC 3339) to this endpoint.", tags),
        Route("POST", "/v1/webhooks/endpoints/<name>/enable", _enable(sink),
              "Re-enable a disabled endpoint.", tags),
    ]


def _control(sink: WebhookSink) -> SinkControl:
    if sink.control is None:
        raise ApiError(503, "sink_not_running", "webhook delivery is not running")
    return sink.control


def _endpoint(sink: WebhookSink, name: str) -> Endpoint:
    endpoint = sink.endpoints.get(name)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


def _json(endpoint: Endpoint, state: TargetState | None) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "url": endpoint.url,
        "events": list(endpoint.events),
        **target_state_json(state),
        "timeout": endpoint.timeout,
        "max_concurrency": endpoint.max_concurrency,
    }


async def _states(sink: WebhookSink) -> dict[str, TargetState]:
    return {t.name: t for t in await _control(sink).target_states()}


def _list(sink: WebhookSink) -> Handler:
    async def handler(req: RouteRequest) -> tuple[int, Any]:
        states = await _states(sink)
        return 200, {"data": [_json(e, states.get(e.name)) for e in sink.endpoints.values()]}

    return handler


def _recover(sink: WebhookSink) -> Handler:
    async def handler(req: RouteRequest) -> tuple[int, Any]:
        endpoint = _endpoint(sink, req.path_params["name"])
        since = _since(req.json.get("since"))
        count = await _control(sink).recover(endpoint.name, since)
        return 202, {"endpoint": endpoint.name, "since": iso(since), "requeued": count}

    return handler


def _enable(sink: WebhookSink) -> Handler:
    async def handler(req: RouteRequest) -> tuple[int, Any]:
        endpoint = _endpoint(sink, req.path_params["name"])
        if not await _control(sink).set_enabled(endpoint.name, True):
            raise not_found("webhook endpoint")
        return 200, _json(endpoint, (await _states(sink)).get(endpoint.name))

    return handler


def _since(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ApiError(422, "validation_failed", "since is required (RFC 3339 with timezone)",
                       fields={"since": "field required"})
    try:
        since = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        raise ApiError(422, "validation_failed", "since must be RFC 3339 with a timezone",
                       fields={"since": "invalid datetime"})
    return since
