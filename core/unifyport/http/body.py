"""Read and validate JSON bodies and query strings into pydantic models, as JSON errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from unifyport.errors import ApiError

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 1 << 20


async def raw_json() -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``."""
    data = await request.get_data(as_text=False)
    if not data or not data.strip():
        return {}
    if len(data) > MAX_BODY:
        raise ApiError(413, "invalid_request", "request body too large")
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_request", f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_request", "the JSON body must be an object")
    return value


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
