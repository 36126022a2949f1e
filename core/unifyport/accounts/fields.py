"""Validate input against the fields a provider declares (account fields and step bodies),
and describe them as JSON schema for the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from unifyport.auth.declare import FieldSpec
from unifyport.errors import ApiError

_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,)}
_DIGITS = re.compile(r"-?[0-9]{1,20}")
"""An integer given as a string: ASCII digits only (``"²³"`` is a digit to ``isdigit``)."""


def check_value(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """``(value, None)`` with digit strings made integers, or ``(None, error)``."""
    if spec.type == "integer" and isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if (isinstance(value, bool) and spec.type == "integer") or not isinstance(
        value, _TYPES[spec.type]
    ):
        return None, f"must be {'an' if spec.type == 'integer' else 'a'} {spec.type}"
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = spec.bounds()
        if not low <= value <= high:
            return None, f"must be between {low} and {high}"
    if isinstance(value, str):
        if spec.strip:
            value = value.strip()
        if not value.strip():
            return None, "must not be empty"
        if not spec.min_length <= len(value) <= spec.max_length:
            return None, f"must be {spec.min_length} to {spec.max_length} characters"
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            return None, f"does not match {spec.pattern}"
    return value, None


def validate_fields(
    specs: Iterable[FieldSpec],
    location: str | None,
    values: Mapping[str, Any],
    *,
    require: bool = True,
) -> dict[str, Any]:
    """Check ``values`` against the specs at ``location`` (``provider_data``, ``params``, or
    ``None`` for a step's body, whose error keys carry no prefix).

    Returns the values with integers given as digit strings converted; raises 422
    ``validation_failed`` with per-field ``fields`` errors (``<location>.<name>`` keys).
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    known = {s.name: s for s in specs if location is None or s.location == location}

    def key(name: str) -> str:
        return name if location is None else f"{location}.{name}"

    for name in values:
        if name not in known:
            errors[key(str(name))[:200]] = "unknown field"
    for name, spec in known.items():
        if name not in values or values[name] is None:
            if spec.required and require:
                errors[key(name)] = "field required"
            continue
        value, error = check_value(spec, values[name])
        if error is not None:
            errors[key(name)] = error
        else:
            out[name] = value
    if errors:
        raise ApiError(422, "validation_failed", "invalid fields", fields=errors)
    return out


def split_secret(
    specs: Iterable[FieldSpec], location: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public, secret) parts of validated values."""
    secret_names = {s.name for s in specs if s.location == location and s.secret}
    public = {k: v for k, v in values.items() if k not in secret_names}
    return public, {k: v for k, v in values.items() if k in secret_names}


def field_schema(s: FieldSpec) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": s.type, "description": s.description}
    if s.type == "string":
        prop["minLength"], prop["maxLength"] = s.min_length, s.max_length
        if s.pattern:
            prop["pattern"] = s.pattern
    elif s.type == "integer":
        prop["minimum"], prop["maximum"] = s.bounds()
    if s.secret:
        prop["writeOnly"] = True
    return prop


def json_schema(specs: Iterable[FieldSpec], location: str | None) -> dict[str, Any]:
    """A JSON schema object for the fields at ``location`` (``None``: a step's body)."""
    chosen = [s for s in specs if location is None or s.location == location]
    return {"type": "object",
            "properties": {s.name: field_schema(s) for s in chosen},
            "required": [s.name for s in chosen if s.required],
            "additionalProperties": False}
