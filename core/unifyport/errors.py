"""Error types shared by the core: one for the HTTP boundary, one for configuration, and the
domain error kinds plugins raise (the core alone maps them to HTTP statuses)."""

from __future__ import annotations

import enum
from typing import Any


class ApiError(Exception):
    """An error answered to an API client as ``{"error": {"code", "message", ...extra}}``.

    ``code`` is a stable machine-readable string; ``message`` is human text; ``extra``
    carries documented fields such as ``retry_after``, ``fields`` or ``status``.
    """

    def __init__(self, http_status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = http_status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body for this error."""
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def not_found(what: str) -> ApiError:
    """404 for a missing resource."""
    return ApiError(404, "not_found", f"{what} not found")


class ConfigError(Exception):
    """Invalid configuration; ``key`` names the offending setting (dotted path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class ErrorKind(enum.StrEnum):
    """What kind of failure a domain error is, independent of any transport.

    A plugin names the kind only when its error code is not one of :data:`KNOWN_CODES` (or
    when one code means two kinds, e.g. ``provider_unavailable``: unreachable vs. refused).
    """

    INVALID = "invalid"
    """The caller's input is wrong (a wrong code, a malformed id)."""
    UNPROCESSABLE = "unprocessable"
    """Well-formed input the channel cannot use (an unreadable session)."""
    UNAUTHENTICATED = "unauthenticated"
    """The channel says the credentials are not (or no longer) valid."""
    FORBIDDEN = "forbidden"
    """The channel refuses this account or action (a banned number)."""
    NOT_FOUND = "not_found"
    """The chat, user or message does not exist at the channel."""
    CONFLICT = "conflict"
    """Not possible in the current state (not online yet, already scanned)."""
    RATE_LIMITED = "rate_limited"
    """The channel asks to wait (``retry_after`` seconds)."""
    UNAVAILABLE = "unavailable"
    """The channel could not be reached or did not answer in time."""
    UPSTREAM = "upstream"
    """The channel answered with an error the plugin cannot attribute to the caller."""
    NOT_SUPPORTED = "not_supported"
    """The provider (or the channel) cannot do this at all (a capability it lacks)."""


KIND_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNPROCESSABLE: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.UPSTREAM: 502,
    ErrorKind.NOT_SUPPORTED: 501,
}

K = ErrorKind
KNOWN_CODES: dict[str, ErrorKind] = {
    "invalid_request": K.INVALID,
    "validation_failed": K.UNPROCESSABLE,
    "invalid_state": K.CONFLICT,
    "runtime_not_running": K.CONFLICT,
    "flood_wait": K.RATE_LIMITED,
    "invalid_session": K.UNPROCESSABLE,
    "url_not_allowed": K.INVALID,
    "download_failed": K.UPSTREAM,
    "provider_unavailable": K.UNAVAILABLE,
    "session_revoked": K.UNAUTHENTICATED,
    "chat_not_found": K.NOT_FOUND,
    "message_too_long": K.UNPROCESSABLE,
    "unsupported": K.INVALID,
    "not_supported": K.NOT_SUPPORTED,
    "message_not_found": K.NOT_FOUND,
    "attachment_not_found": K.NOT_FOUND,
    "file_too_large": K.UNPROCESSABLE,
}
"""Codes every channel may use with their default kind; any other code defaults to
:attr:`ErrorKind.INVALID` unless the error names its kind."""


def http_status_of(code: str, kind: ErrorKind | None) -> int:
    """The HTTP status answered for a domain error: its kind, else its code's, else 400."""
    return KIND_STATUS[kind or KNOWN_CODES.get(code, ErrorKind.INVALID)]
