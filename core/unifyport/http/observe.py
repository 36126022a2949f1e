"""Request ids and HTTP metrics for every request; ``GET /metrics``.

A request's id is the client's ``X-Request-Id`` when it is a short token (letters, digits,
``-_.:``), else a new ``req_…``; it is on every log line written while the request is
handled and in the response's ``X-Request-Id``."""

from __future__ import annotations

import re
import secrets
import time

from quart import Blueprint, Quart, Response, current_app, g, request
from quart_schema import tag

from unifyport.logs import begin_request, end_request, request_id
from unifyport.metrics import CONTENT_TYPE, GatewayMetrics

METRICS = "unifyport.metrics"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

bp = Blueprint("metrics", __name__)


def current_request_id() -> str:
    """The id of the request being handled (a new one outside a request)."""
    return request_id() or new_request_id()


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


STEP_RULE = "<path:step>"


def install_observation(app: Quart, metrics: GatewayMetrics,
                        steps: frozenset[str] = frozenset()) -> None:
    """Register first, so that even a request refused by authentication is counted.
    ``steps`` are the declared auth step names: an auth request is counted under its step's
    route (any other name under the template, so clients cannot grow the label set)."""
    app.extensions[METRICS] = metrics

    @app.before_request
    async def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        begin_request(given if _CLIENT_ID.fullmatch(given) else new_request_id())
        g.unifyport_started = time.perf_counter()

    @app.after_request
    async def _finish(response: Response) -> Response:
        started = g.get("unifyport_started")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            step = (request.view_args or {}).get("step")
            if STEP_RULE in rule and step in steps:
                rule = rule.replace(STEP_RULE, step)
            method = request.method if request.method in _METHODS else "other"
            metrics.observe_request(method, rule, response.status_code,
                                    time.perf_counter() - started)
        rid = request_id()
        if rid:
            response.headers["X-Request-Id"] = rid
        return response

    @app.teardown_request
    async def _end(_exc: BaseException | None) -> None:
        end_request()


@bp.get("/metrics")
@tag(["health"])
async def metrics() -> Response:
    """Prometheus metrics of this process (text exposition format); needs an API key."""
    registry = current_app.extensions[METRICS]
    assert isinstance(registry, GatewayMetrics)
    return Response(await registry.render(), content_type=CONTENT_TYPE)
