"""API-key authentication for every route but health, readiness and the API description:
the app's one before-request step (the request id and metrics are the front's,
:mod:`unifyport.http.observe`)."""

from __future__ import annotations

from quart import Quart, Request, Response, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from unifyport.apikeys import verify_key
from unifyport.errors import ApiError
from unifyport.http.access import authorize
from unifyport.http.console.sessions import session_key
from unifyport.http.context import gateway
from unifyport.http.errors import http_error_response
from unifyport.http.observe import note_route

PUBLIC_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/docs"})
OWN_AUTHENTICATION = ("/console", "/docs/static/")
"""The console's pages and files, and /docs' files: the pages check the console session
themselves (redirecting to the sign-in page) and reach data only through the API."""


def presented_key(req: Request) -> str | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return req.headers.get("X-API-Key") or None


def install_authentication(app: Quart) -> None:
    @app.before_request
    async def _require_key() -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]  # once, not per use
        note_route(req)
        path = req.path
        if path in PUBLIC_PATHS or path.startswith(OWN_AUTHENTICATION):
            return None  # OPTIONS too: it would disclose the routes
        token = presented_key(req) or session_key()
        if token is None:
            raise ApiError(401, "unauthorized", "missing API key (Authorization: Bearer ...)")
        key = await verify_key(gateway().db, token)
        if key is None:
            raise ApiError(401, "unauthorized", "invalid or revoked API key")
        authorize(key, req)
        routing = req.routing_exception
        if isinstance(routing, NotFound | MethodNotAllowed):
            # Answered here rather than raised by the dispatch and found again by the
            # error handlers: the same response, ~25 µs sooner (an authenticated 404 is
            # the API's cheapest request; scanners send many).
            return http_error_response(routing)
        return None
