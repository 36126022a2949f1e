"""Validate provider fields against what the provider declares for an auth mode."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from unifyport.errors import ApiError
from unifyport.providers import FieldSpec

_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,)}


def validate_fields(
    specs: Iterable[FieldSpec],
    location: str,
    values: Mapping[str, Any],
    *,
    require: bool = True,
) -> dict[str, Any]:
    """Check ``values`` (``provider_data`` or ``params``) against the specs at ``location``.

    Returns the values with integers given as digit strings converted; raises 422
    ``validation_failed`` with per-field ``fields`` errors (``<location>.<name>`` keys).
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    known = {s.name: s for s in specs if s.location == location}
    for name in values:
        if name not in known:
            errors[f"{location}.{name}"] = "unknown field"
    for name, spec in known.items():
        key = f"{location}.{name}"
        if name not in values or values[name] is None:
            if spec.required and require:
                errors[key] = "field required"
            continue
        value = values[name]
        if spec.type == "integer" and isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if (isinstance(value, bool) and spec.type == "integer") or not isinstance(
            value, _TYPES[spec.type]
        ):
            errors[key] = f"must be {'an' if spec.type == 'integer' else 'a'} {spec.type}"
            continue
        if isinstance(value, str):
            if not value.strip():
                errors[key] = "must not be empty"
                continue
            if spec.pattern and not re.fullmatch(spec.pattern, value):
                errors[key] = f"does not match {spec.pattern}"
                continue
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


def json_schema(specs: Iterable[FieldSpec], location: str) -> dict[str, Any]:
    """A JSON schema object for the fields at ``location`` (used in the OpenAPI document)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for s in specs:
        if s.location != location:
            continue
        prop: dict[str, Any] = {"type": s.type, "description": s.description}
        if s.pattern:
            prop["pattern"] = s.pattern
        if s.secret:
            prop["writeOnly"] = True
        props[s.name] = prop
        if s.required:
            required.append(s.name)
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}
