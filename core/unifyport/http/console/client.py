"""The console is a client of the JSON API: every read and action it performs is an
in-process request to a ``/v1`` route, authenticated by the signed-in session (and its CSRF
token), so the console can never do what the API (and the session's key) cannot."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from hypercorn.typing import HTTPScope
from quart import Response, current_app, request
from werkzeug.datastructures import Headers

from unifyport.http.console.sessions import COOKIE, CSRF_HEADER, Session


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def data(self) -> list[dict[str, Any]]:
        """The ``data`` list of a successful list answer (empty otherwise)."""
        if self.ok and isinstance(self.body, dict) and isinstance(self.body.get("data"), list):
            return list(self.body["data"])
        return []

    @property
    def error(self) -> dict[str, Any]:
        """The API's ``error`` object (code, message, fields...); empty on success."""
        if self.ok or not isinstance(self.body, dict):
            return {}
        error = self.body.get("error")
        return error if isinstance(error, dict) else {}

    def field_errors(self) -> dict[str, str]:
        """Per-field messages keyed by the bare field name (``provider_data.phone``:
        ``phone``), for showing next to the input."""
        fields = self.error.get("fields") or {}
        return {str(k).rsplit(".", 1)[-1]: str(v) for k, v in fields.items()}


async def api(sid: str, session: Session, method: str, path: str, body: Any = None,
              query: dict[str, str] | None = None) -> Answer:
    """``method path`` against the JSON API, as the session."""
    app = current_app
    data = b"" if body is None else jsonlib.dumps(body).encode()
    headers = Headers({"Cookie": f"{COOKIE}={sid}", CSRF_HEADER: session.csrf,
                       "Content-Type": "application/json", "Accept": "application/json",
                       "Content-Length": str(len(data)), "Host": request.host,
                       "Remote-Addr": request.remote_addr or ""})
    query_string = urlencode({k: v for k, v in (query or {}).items() if v}).encode()
    scope = cast(HTTPScope, {
        "type": "http", "asgi": {"spec_version": "2.1", "version": "3.0"},
        "http_version": "1.1", "method": method, "scheme": request.scheme, "path": path,
        "raw_path": path.encode(), "query_string": query_string, "root_path": "",
        "headers": [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers.items()],
        "client": None, "server": None, "extensions": {}, "state": {}})
    sub = app.request_class(method, request.scheme, path, query_string, headers, "", "1.1",
                            scope, max_content_length=app.config["MAX_CONTENT_LENGTH"],
                            body_timeout=app.config["BODY_TIMEOUT"],
                            send_push_promise=_no_push)
    sub.body.append(data)
    sub.body.set_complete()
    response = await app.handle_request(sub)
    raw = await response.get_data(as_text=False) if isinstance(response, Response) else b""
    try:
        parsed = jsonlib.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Answer(response.status_code, parsed)


async def _no_push(path: str, headers: Headers) -> None:
    """In-process requests have no connection to push on."""
