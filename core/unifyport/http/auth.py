"""API-key authentication for every route but health, readiness and the API description."""

from __future__ import annotations

from quart import Quart, request

from unifyport.apikeys import verify_key
from unifyport.errors import ApiError
from unifyport.http.access import authorize
from unifyport.http.console.sessions import session_key
from unifyport.http.context import gateway

PUBLIC_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/docs"})
OWN_AUTHENTICATION = ("/console", "/docs/static/")
"""The console's pages and files, and /docs' files: the pages check the console session
themselves (redirecting to the sign-in page) and reach data only through the API."""


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def install_authentication(app: Quart) -> None:
    @app.before_request
    async def _require_key() -> None:
        if request.path in PUBLIC_PATHS or request.path.startswith(OWN_AUTHENTICATION):
            return  # OPTIONS too: it would disclose the routes
        token = presented_key() or session_key()
        if token is None:
            raise ApiError(401, "unauthorized", "missing API key (Authorization: Bearer ...)")
        key = await verify_key(gateway().db, token)
        if key is None:
            raise ApiError(401, "unauthorized", "invalid or revoked API key")
        authorize(key)
