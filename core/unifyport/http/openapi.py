"""The OpenAPI document, completed from what providers declare: one ``POST /v1/accounts``
body variant per (provider, auth mode), one path per declared auth step with its request
body, its response (with the fields the step exposes) and its error responses, and the
JSON error body on every route."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from werkzeug.routing.rules import Rule

from unifyport.accounts.fields import json_schema
from unifyport.apikeys import ADMIN
from unifyport.auth.declare import AuthMode, Step
from unifyport.http.access import scope_of
from unifyport.http.auth import PUBLIC_PATHS
from unifyport.http.context import EXTENSION
from unifyport.http.schemas import AuthResponse, ErrorOut, SendResponse
from unifyport.providers import Provider

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
STEP_ERRORS = {
    400: "Unsupported step for the auth mode, or a provider error such as `invalid_code`.",
    401: "Missing or invalid API key, or credentials the channel refused.",
    403: "The channel refuses the account (`phone_banned`).",
    404: "No such account, or no such step for its provider.",
    409: "`invalid_state`: the step is not allowed in the account's status.",
    422: "`validation_failed` (per-field `fields`), `invalid_session`.",
    429: "`flood_wait`, with `retry_after` and a `Retry-After` header.",
    502: "The channel answered with an error (`provider_unavailable`, `download_failed`).",
    503: "The channel did not answer in time (`provider_unavailable`).",
}
COMMON_ERRORS = {
    400: "`invalid_request`: malformed JSON, query or cursor.",
    401: "`unauthorized`: missing or invalid API key.",
    403: "`forbidden`: the API key lacks the scope the operation needs (`x-scope`; the "
         "error's `scope` names it).",
    404: "`not_found`.",
    409: "`invalid_state`, `runtime_not_running`, `conflict`... (the body says which).",
    413: "`invalid_request`: the body is over 1 MiB.",
    422: "`validation_failed`, with per-field `fields`.",
    503: "`not_ready`: the database or a component is not available; retry.",
}
SEND_ERRORS = {**COMMON_ERRORS, **{k: v for k, v in STEP_ERRORS.items() if k in (403, 429, 502)}}
MESSAGING_ERRORS = {
    **SEND_ERRORS,
    400: "`invalid_request`, `invalid_cursor`, `url_not_allowed`, or a provider error.",
    404: "`not_found`, `chat_not_found`, `message_not_found`, `attachment_not_found`.",
    413: "`file_too_large` (`max_bytes`), or a JSON body over 1 MiB.",
    501: "`not_supported`: the provider lacks the capability (`capability` names it).",
    503: "`provider_unavailable` (no answer in time) or `not_ready`.",
}
MULTIPART = {"type": "object", "required": ["chat_id"], "properties": {
    "chat_id": {"type": "string"}, "text": {"type": "string"},
    "reply_to_id": {"type": "string"},
    "kind": {"type": "string", "description": "Comma-separated kinds, one per file."},
    "file": {"type": "array", "items": {"type": "string", "format": "binary"},
             "description": "One part per file (any part name with a file name)."}}}

SUCCESS = {"get": (200,), "post": (200, 201, 202), "delete": (204,), "put": (200,),
           "patch": (200,)}
"""What an operation that declares no success response may answer."""


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorOut")}}}}


NOT_API = ("/console", "/docs")
"""HTML pages and their files (the console, Swagger UI): not part of the JSON API."""
def _messaging(path: str, method: str, operation: dict[str, Any]) -> None:
    """What the decorators cannot say: the multipart send, the file download, 204s."""
    responses = operation["responses"]
    if path.endswith("/messages") and method == "post" and "requestBody" in operation:
        operation["requestBody"]["content"]["multipart/form-data"] = {"schema": MULTIPART}
    elif path.endswith("/attachments/{index}"):
        responses[200] = {"description": "The file's bytes, streamed, with its content type.",
                          "content": {"*/*": {"schema": {"type": "string",
                                                         "format": "binary"}}}}
    elif path.endswith(("/reactions", "/read")) or (method == "delete"):
        responses.pop(200, None)
        responses[204] = {"description": "Done."}


class GatewayOpenAPI(OpenAPIProvider):
    def generate_rules(self) -> Iterable[Rule]:
        return (rule for rule in super().generate_rules()
                if not rule.rule.startswith(NOT_API))

    def schema(self) -> dict[str, Any]:
        schema = super().schema()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorOut, AuthResponse, SendResponse):
            self._add_model(components, model)
        providers: dict[str, Provider] = self._app.extensions[EXTENSION].registry.providers
        self._account_variants(schema, providers)
        for name, step_schema in self._step_paths(providers, components).items():
            schema["paths"][f"/v1/accounts/{{account_id}}/auth/session/{name}"] = step_schema
        scopes = self._scopes()
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                if path not in PUBLIC_PATHS:
                    scope = scopes.get((path, method), scopes.get(("/auth/session/", "post"))
                                       if "/auth/session/" in path else ADMIN)
                    operation["x-scope"] = scope
                    operation["description"] = (operation.get("description") or "") + \
                        f"\n\nAPI key scope: `{scope}`."
                    operation["responses"].setdefault(403, _error(COMMON_ERRORS[403]))
                if path in PUBLIC_PATHS:  # no key needed; only readiness can fail
                    operation["security"] = []
                    errors = {503: COMMON_ERRORS[503]} if path == "/ready" else {}
                elif "/auth/session/" in path:
                    errors = STEP_ERRORS
                elif path.endswith("/messages") or "/chats" in path:
                    errors = MESSAGING_ERRORS
                    _messaging(path, method, operation)
                else:
                    errors = COMMON_ERRORS
                if not any(str(code).startswith("2") for code in operation["responses"]):
                    for code in SUCCESS.get(method, (200,)):
                        operation["responses"][code] = {"description": "Success."}
                for status, text in errors.items():
                    operation["responses"].setdefault(status, _error(text))
        return schema

    def _scopes(self) -> dict[tuple[str, str], str]:
        """(OpenAPI path, method) → the scope its view declares (``http/access.py``)."""
        out: dict[tuple[str, str], str] = {}
        for rule in self._app.url_map.iter_rules():
            path = _PARAM.sub(r"{\1}", rule.rule)
            if "/auth/session/" in path:
                path = "/auth/session/"
            scope = scope_of(self._app.view_functions.get(rule.endpoint))
            for method in rule.methods or ():
                out[(path, method.lower())] = scope
        return out

    @staticmethod
    def _add_model(components: dict[str, Any], model: type[BaseModel]) -> None:
        js = model.model_json_schema(ref_template=REF)
        components.update(js.pop("$defs", {}))
        components[model.__name__] = js

    @staticmethod
    def _account_variants(schema: dict[str, Any], providers: dict[str, Provider]) -> None:
        try:
            body = schema["paths"]["/v1/accounts"]["post"]["requestBody"]
            create = body["content"]["application/json"]["schema"]
        except KeyError:
            return
        variants = [{
            "title": f"{name} / {mode.name}",
            "description": mode.description,
            "type": "object",
            "properties": {
                "provider": {"const": name},
                "auth_mode": {"const": mode.name},
                "provider_data": json_schema(mode.fields, "provider_data"),
                "params": json_schema(mode.fields, "params"),
                "x-steps": sorted(s.name for s in mode.all_steps),
            },
            "required": ["provider", "auth_mode"],
        } for name, provider in sorted(providers.items()) for mode in provider.auth_modes]
        if variants:
            create["oneOf"] = variants

    def _step_paths(self, providers: dict[str, Provider],
                    components: dict[str, Any]) -> dict[str, dict[str, Any]]:
        by_step: dict[str, list[tuple[str, AuthMode, Step]]] = {}
        for name, provider in sorted(providers.items()):
            for mode in provider.auth_modes:
                for step in mode.all_steps:
                    by_step.setdefault(step.name, []).append((name, mode, step))
        return {step_name: self._step_path(step_name, uses, components)
                for step_name, uses in sorted(by_step.items())}

    def _step_path(self, step_name: str, uses: list[tuple[str, AuthMode, Step]],
                   components: dict[str, Any]) -> dict[str, Any]:
        bodies, responses, text = [], [], []
        for provider, mode, step in uses:
            body = json_schema(step.fields, None)
            if step.params:
                body["properties"]["params"] = json_schema(mode.fields, "params")
            bodies.append({"title": f"{provider} / {mode.name}", **body})
            text.append(f"- `{provider}` / `{mode.name}`: from {', '.join(sorted(step.sources))}"
                        f" to {', '.join(sorted(step.targets))}. {step.description}")
            if step.exposes is not None:
                self._add_model(components, step.exposes)
                responses.append({"$ref": REF.format(model=step.exposes.__name__)})
        response: dict[str, Any] = {"$ref": REF.format(model="AuthResponse")}
        if responses:
            response = {"allOf": [response, {"anyOf": responses}]}
        operation = {
            "tags": ["auth"],
            "summary": f"Auth step `{step_name}`",
            "description": "Declared by:\n" + "\n".join(text),
            "operationId": "auth_step_" + step_name.replace("/", "_"),
            "parameters": [{"name": "account_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"anyOf": bodies} if len(bodies) > 1 else bodies[0]}}},
            "responses": {200: {"description": "The step succeeded.", "content": {
                "application/json": {"schema": response}}}},
        }
        return {"post": operation}
