"""Request ids and HTTP metrics for every request, in front of the app; ``GET /metrics``.

A request's id is the client's ``X-Request-Id`` when it is a short token (letters, digits,
``-_.:``), else a new ``req_…``; it is on every log line written while the request is
handled and in the response's ``X-Request-Id``.

Both are the work of :class:`Front`, ASGI middleware around the Quart app, on the raw ASGI
messages: one call per request instead of three Quart hooks (before, after, teardown) that
each went through the framework's hook machinery and context-local proxies, and a header
added to the response's header list instead of through werkzeug's ``Headers`` (~30 µs of a
~220 µs read). The app tells the front which route answered (:func:`note_route`, called by
the authentication step, :mod:`unifyport.http.auth`), so the metrics keep their route label."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Quart, Request, Response, current_app
from quart_schema import tag

from unifyport.logs import begin_request, end_request, request_id
from unifyport.metrics import CONTENT_TYPE, GatewayMetrics

METRICS = "unifyport.metrics"
SEEN = "unifyport.seen"
"""The ASGI scope key of the request's :class:`Seen`."""
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
STEP_RULE = "<path:step>"

bp = Blueprint("metrics", __name__)


def current_request_id() -> str:
    """The id of the request being handled (a new one outside a request)."""
    return request_id() or new_request_id()


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


@dataclass(slots=True)
class Seen:
    """What the app noted about a request for the front: the route that matched."""

    rule: str = "unmatched"
    step: str | None = None
    status: int = 0


def note_route(req: Request) -> None:
    """Note the matched route of ``req`` for the metrics (a request made inside the
    process, as the console's, has no front: nothing to note)."""
    seen: Seen | None = req.scope.get(SEEN)  # type: ignore[assignment]
    if seen is not None and req.url_rule is not None:
        seen.rule = req.url_rule.rule
        seen.step = (req.view_args or {}).get("step")


class Front:
    """ASGI middleware: the request id (log lines, ``X-Request-Id``) and the HTTP metrics of
    every HTTP request. Registered first (around everything), so even a request refused by
    authentication is counted. ``steps`` are the declared auth step names: an auth request is
    counted under its step's route (any other name under the template, so clients cannot
    grow the label set)."""

    def __init__(self, inner: Any, metrics: GatewayMetrics, steps: frozenset[str]) -> None:
        self.inner, self.metrics, self.steps = inner, metrics, steps

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k.lower() == b"x-request-id"), b"")
        rid = given.decode() if _CLIENT_ID.fullmatch(given) else new_request_id()
        header = (b"x-request-id", rid.encode())
        seen = Seen()
        method = scope["method"] if scope["method"] in _METHODS else "other"
        started = time.perf_counter()

        async def respond(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif not message.get("more_body", False):  # counted before the client has it all
                self._observe(method, seen, time.perf_counter() - started)
            await send(message)

        begin_request(rid)
        try:
            await self.inner({**scope, SEEN: seen}, receive, respond)
        finally:
            end_request()

    def _observe(self, method: str, seen: Seen, seconds: float) -> None:
        rule = seen.rule
        if seen.step in self.steps and STEP_RULE in rule:
            rule = rule.replace(STEP_RULE, str(seen.step))
        self.metrics.observe_request(method, rule, seen.status, seconds)


def install_observation(app: Quart, metrics: GatewayMetrics,
                        steps: frozenset[str] = frozenset()) -> None:
    """Put :class:`Front` around the app (around everything: a request refused by
    authentication is counted too)."""
    app.extensions[METRICS] = metrics
    app.asgi_app = Front(app.asgi_app, metrics, steps)  # type: ignore[method-assign]


@bp.get("/metrics")
@tag(["health"])
async def metrics() -> Response:
    """Prometheus metrics of this process (text exposition format); needs an API key."""
    registry = current_app.extensions[METRICS]
    assert isinstance(registry, GatewayMetrics)
    return Response(await registry.render(), content_type=CONTENT_TYPE)
