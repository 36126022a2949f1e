"""One JSON error format for everything the HTTP layer answers, 404/405/500 included."""

from __future__ import annotations

import logging

from quart import Quart, Response, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from unifyport.db.database import is_busy
from unifyport.errors import ApiError
from unifyport.http.observe import current_request_id

log = logging.getLogger("unifyport.http")

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "invalid_request",
    415: "invalid_request",
}


def api_error_response(err: ApiError) -> Response:
    response = jsonify(err.body())
    response.status_code = err.status
    if "retry_after" in err.extra:
        response.headers["Retry-After"] = str(err.extra["retry_after"])
    if err.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _drop_tracebacks(err: BaseException) -> None:
    """A routing error (an unknown route: werkzeug's ``NotFound`` raised while handling its
    ``NoMatch``) stays on the request as ``routing_exception``, and the tracebacks of the
    two hold the frames that hold the request and the exceptions: a cycle of ~60 objects
    per request, left to the garbage collector, whose young collections then each freed
    ~20,000 objects at once under a stream of 404s (20-30 ms stalls). Nothing reads these
    tracebacks after the error is answered."""
    seen: BaseException | None = err
    while seen is not None:
        seen.__traceback__ = None
        seen = seen.__context__


def http_error_response(err: HTTPException) -> Response:
    """The JSON answer to one of werkzeug's errors (an unknown route, a wrong method, a
    malformed request): the same format as every other error."""
    status = err.code or 500
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
    message = err.description if status != 404 else f"no route for {request.path}"
    response = api_error_response(ApiError(status, code, str(message or err.name)))
    if status == 405 and err.get_response().headers.get("Allow"):
        response.headers["Allow"] = err.get_response().headers["Allow"]
    _drop_tracebacks(err)
    return response


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def _api_error(err: ApiError) -> Response:
        return api_error_response(err)

    @app.errorhandler(HTTPException)
    async def _http_error(err: HTTPException) -> Response:
        return http_error_response(err)

    @app.errorhandler(DBAPIError)
    async def _database_error(err: DBAPIError) -> Response:
        if is_busy(err):  # SQLite stayed locked past its busy timeout (another writer)
            log.warning("database busy during %s %s", request.method, request.path)
            return api_error_response(ApiError(
                503, "not_ready", "the database is busy; retry", retry_after=1))
        if not err.connection_invalidated:
            return await _unexpected(err)
        # The server dropped a pooled connection (restart, idle timeout); the pool has
        # replaced it, so the same request succeeds when sent again.
        log.warning("database connection lost during %s %s", request.method, request.path)
        return api_error_response(ApiError(
            503, "not_ready", "the database connection was lost; retry", retry_after=1))

    @app.errorhandler(Exception)
    async def _unexpected(err: Exception) -> Response:
        request_id = current_request_id()
        log.error("unhandled error %s on %s %s", request_id, request.method, request.path,
                  exc_info=err)
        return api_error_response(
            ApiError(500, "internal_error", "internal error", request_id=request_id)
        )
