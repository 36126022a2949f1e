"""``/v1/providers``: each provider's declaration (auth modes, steps, fields) as data.

Clients build their forms from it: the console's create-account form and login wizard do
(``docs/console.md``), so a new channel plugin gets them without console code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from quart import Blueprint
from quart_schema import tag

from unifyport.auth.declare import AuthMode, FieldSpec, Step
from unifyport.errors import not_found
from unifyport.http.access import requires
from unifyport.http.context import gateway
from unifyport.providers import Provider

bp = Blueprint("providers", __name__, url_prefix="/v1/providers")


def field_json(spec: FieldSpec) -> dict[str, Any]:
    out = dataclasses.asdict(spec)
    if spec.type == "integer":
        out["minimum"], out["maximum"] = spec.bounds()
    else:
        del out["minimum"], out["maximum"]
    if spec.type != "string":
        for key in ("pattern", "min_length", "max_length", "strip"):
            del out[key]
    return out


def step_json(step: Step) -> dict[str, Any]:
    return {"name": step.name, "description": step.description,
            "sources": sorted(step.sources), "targets": sorted(step.targets),
            "fields": [field_json(f) for f in step.fields], "params": step.params}


def mode_json(mode: AuthMode) -> dict[str, Any]:
    return {"name": mode.name, "description": mode.description,
            "statuses": list(mode.statuses), "fields": [field_json(f) for f in mode.fields],
            "steps": [step_json(s) for s in mode.all_steps]}


def provider_json(provider: Provider) -> dict[str, Any]:
    return {"name": provider.name, "description": provider.description,
            "capabilities": sorted(provider.capabilities),
            "auth_modes": [mode_json(m) for m in provider.auth_modes]}


@bp.get("")
@tag(["providers"])
@requires("read")
async def list_() -> dict[str, Any]:
    """Every enabled provider with its auth modes, their steps and input fields."""
    providers = gateway().registry.providers
    return {"data": [provider_json(providers[name]) for name in sorted(providers)]}


@bp.get("/<name>")
@tag(["providers"])
@requires("read")
async def get(name: str) -> dict[str, Any]:
    """One provider's declaration."""
    provider = gateway().registry.providers.get(name)
    if provider is None:
        raise not_found("provider")
    return provider_json(provider)
