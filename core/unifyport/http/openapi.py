"""The OpenAPI document, completed with each provider's auth modes and fields."""

from __future__ import annotations

from typing import Any

from quart_schema import OpenAPIProvider

from unifyport.accounts.fields import json_schema
from unifyport.http.context import EXTENSION


class GatewayOpenAPI(OpenAPIProvider):
    """Adds to the ``POST /v1/accounts`` body schema one variant per (provider, auth mode)
    with the fields the provider declares: ``/openapi.json`` documents what is enforced."""

    def schema(self) -> dict[str, Any]:
        schema = super().schema()
        try:
            body = schema["paths"]["/v1/accounts"]["post"]["requestBody"]
            create = body["content"]["application/json"]["schema"]
        except KeyError:
            return schema
        variants = []
        for name, provider in sorted(self._app.extensions[EXTENSION].registry.providers.items()):
            for mode in provider.auth_modes:
                variants.append({
                    "title": f"{name} / {mode.name}",
                    "description": mode.description,
                    "type": "object",
                    "properties": {
                        "provider": {"const": name},
                        "auth_mode": {"const": mode.name},
                        "provider_data": json_schema(mode.fields, "provider_data"),
                        "params": json_schema(mode.fields, "params"),
                        "x-steps": sorted(s.value for s in mode.steps),
                    },
                    "required": ["provider", "auth_mode"],
                })
        if variants:
            create["oneOf"] = variants
        return schema
