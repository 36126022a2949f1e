"""Error types shared by the core: one for the HTTP boundary, one for configuration."""

from __future__ import annotations

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
