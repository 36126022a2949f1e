"""Read and validate JSON bodies and query strings into pydantic models, as JSON errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel, ValidationError
from quart import request

from unifyport.errors import ApiError

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 1 << 20
MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have (requests need a handful)."""
INLINE_BODY = 16 << 10
"""Bodies up to this size are parsed on the event loop (microseconds); larger ones in a
worker thread, so a 1 MiB body of tiny arrays never stalls other requests."""
_PARSERS = anyio.CapacityLimiter(2)
_TOO_DEEP = object()


async def raw_json() -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``."""
    data = await request.get_data(as_text=False)
    if not data or not data.strip():
        return {}
    if len(data) > MAX_BODY:
        raise ApiError(413, "invalid_request", "request body too large")
    if len(data) <= INLINE_BODY:
        value = _parse(data)
    else:
        value = await anyio.to_thread.run_sync(_parse, data, limiter=_PARSERS)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_request", "the JSON body must be an object")
    return value


def _parse(data: str | bytes) -> Any:
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_request", f"malformed JSON: {exc}") from None
    except RecursionError:
        value = _TOO_DEEP
    if value is _TOO_DEEP or _too_deep(value):
        raise ApiError(400, "invalid_request",
                       f"the JSON body is nested deeper than {MAX_DEPTH} levels")
    return value


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests containers deeper than ``MAX_DEPTH`` (without recursion)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
        if not level:
            return False
    return True


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """``model`` from ``data``; 422 ``validation_failed`` with per-field errors otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {
            ".".join(str(p) for p in err["loc"]) or "body": err["msg"] for err in exc.errors()
        }
        raise ApiError(422, "validation_failed", "invalid request", fields=fields) from None


async def json_body(model: type[M]) -> M:
    return validate(model, await raw_json())


def query(model: type[M]) -> M:
    return validate(model, dict(request.args.items()))
