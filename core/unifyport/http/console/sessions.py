"""Console sessions: a signed-in browser holds an opaque, HttpOnly, SameSite=Strict cookie.

The server keeps, per session, the API key it was opened with (in memory only), a CSRF
token and an expiry. :func:`session_key` hands the API authentication that key, so a
console session is authenticated, and scoped, exactly as the key itself: revoking the key
ends its sessions at once. Sessions do not survive a restart (sign in again).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from quart import Quart, Response, current_app, request

from unifyport.errors import ApiError

COOKIE = "unifyport_console"
PRE_COOKIE = "unifyport_console_signin"
"""Double-submit token of the sign-in form (no session exists yet)."""
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXTENSION = "unifyport.console_sessions"


@dataclass
class Session:
    token: str
    """The API key, never shown again nor written anywhere."""
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def open(self, token: str) -> tuple[str, Session]:
        now = time.time()
        if len(self._by_id) >= MAX_SESSIONS:
            self._by_id = {k: s for k, s in self._by_id.items() if s.expires > now}
            while len(self._by_id) >= MAX_SESSIONS:  # the oldest go first
                del self._by_id[next(iter(self._by_id))]
        sid = secrets.token_urlsafe(32)
        session = Session(token, now + SESSION_SECONDS)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        session = self._by_id.get(sid) if sid else None
        if session is not None and session.expires <= time.time():
            self._by_id.pop(sid or "", None)
            return None
        return session

    def close(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)


def install_sessions(app: Quart) -> None:
    app.extensions[EXTENSION] = Sessions()


def sessions() -> Sessions:
    store = current_app.extensions[EXTENSION]
    assert isinstance(store, Sessions)
    return store


def current_session() -> Session | None:
    return sessions().get(request.cookies.get(COOKIE))


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def session_key() -> str | None:
    """The API key of the request's console session, for the API authentication; ``None``
    without one. A state-changing request must carry the session's CSRF token in
    ``X-CSRF-Token`` (403 ``csrf_failed`` otherwise)."""
    session = current_session()
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not same_token(
            request.headers.get(CSRF_HEADER), session.csrf):
        raise ApiError(403, "csrf_failed", "missing or wrong CSRF token")
    return session.token


def behind_tls() -> bool:
    return request.scheme == "https" or request.headers.get("X-Forwarded-Proto") == "https"


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=behind_tls())
