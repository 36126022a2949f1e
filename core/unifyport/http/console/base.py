"""The console's shared pieces: its blueprint (sign-in, sign-out, static files), the
signed-in guard, API calls as the session, and rendering with the security headers."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from quart import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from unifyport.apikeys import verify_key
from unifyport.http.console.client import Answer, api
from unifyport.http.console.sessions import (
    COOKIE,
    CSRF_FIELD,
    PRE_COOKIE,
    SESSION_SECONDS,
    Session,
    current_session,
    same_token,
    sessions,
    set_cookie,
)
from unifyport.http.context import gateway

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")
PREFIX = "/console"
SIGN_IN_SECONDS = 3600
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


class SignInRequired(HTTPException):
    code = 303


def signed_in() -> tuple[str, Session]:
    """The request's session id and session, or a redirect to the sign-in page."""
    session = current_session()
    if session is None:
        raise SignInRequired()
    return request.cookies[COOKIE], session


async def call(method: str, path: str, body: Any = None,
               query: dict[str, str] | None = None) -> Answer:
    """The JSON API as the signed-in session; once its key is revoked, the browser is
    signed out (a 401 of a step, e.g. a wrong password, is only an answer)."""
    sid, session = signed_in()
    answer = await api(sid, session, method, path, body, query)
    if answer.status == 401 and await verify_key(gateway().db, session.token) is None:
        sessions().close(sid)
        raise SignInRequired()
    return answer


async def checked_form() -> dict[str, str]:
    """The posted form, after checking its CSRF token against the session's."""
    _, session = signed_in()
    form = await request.form
    if not same_token(form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token"),
                      session.csrf):
        raise ApiErrorPage(403, "csrf_failed", "The form has expired: reload the page.")
    return {k: v for k, v in form.items() if k != CSRF_FIELD}


class ApiErrorPage(HTTPException):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(description=message)
        self.code = status
        self.error_code = code

    @classmethod
    def of(cls, answer: Answer) -> ApiErrorPage:
        """The page of the API's error ``answer``."""
        return cls(answer.status, answer.error.get("code", "error"),
                   answer.error.get("message", ""))


async def fetch(path: str) -> dict[str, Any]:
    """``GET path`` of the API as the session; its error as the error page."""
    answer = await call("GET", path)
    if not answer.ok:
        raise ApiErrorPage.of(answer)
    return dict(answer.body)


async def page(template: str, status: int = 200, **context: Any) -> Response:
    session = current_session()
    html = await render_template(template, csrf=session.csrf if session else None, **context)
    return Response(html, status, content_type="text/html; charset=utf-8")


def see_other(endpoint: str, **values: Any) -> Response:
    return Response("", 303, {"Location": url_for(endpoint, **values)})


@bp.after_request
async def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith(PREFIX + "/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_errorhandler(SignInRequired)
async def _sign_in_required(exc: SignInRequired) -> WerkzeugResponse:
    response = redirect(url_for("console.sign_in"), 303)
    if request.headers.get("HX-Request"):  # htmx follows redirects itself: make it navigate
        response.headers["HX-Redirect"] = url_for("console.sign_in")
    return response


@bp.app_errorhandler(ApiErrorPage)
async def _error_page(exc: ApiErrorPage) -> Response:
    return await page("error.html", exc.code or 400, code=exc.error_code,
                      message=exc.description)


@bp.get("")
@bp.get("/")
async def index() -> Response:
    return see_other("console_accounts.list_")


@bp.get("/sign-in")
async def sign_in() -> Response:
    return await _sign_in_page(None, 200)


@bp.post("/sign-in")
async def sign_in_post() -> Response:
    form = await request.form
    if not same_token(form.get(CSRF_FIELD), request.cookies.get(PRE_COOKIE, "\0")):
        return await _sign_in_page("The sign-in form expired: please try again.", 403)
    key = (form.get("api_key") or "").strip()
    if not key or len(key) > 512 or await verify_key(gateway().db, key) is None:
        return await _sign_in_page("That API key is not valid (or was revoked).", 401)
    sid, _ = sessions().open(key)
    response = see_other("console_accounts.list_")
    set_cookie(response, COOKIE, sid, SESSION_SECONDS)
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


async def _sign_in_page(error: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(32)
    response = await page("sign_in.html", status, signin_csrf=token, error=error)
    set_cookie(response, PRE_COOKIE, token, SIGN_IN_SECONDS)
    return response


@bp.post("/sign-out")
async def sign_out() -> Response:
    await checked_form()
    sessions().close(request.cookies.get(COOKIE))
    response = see_other("console.sign_in")
    response.delete_cookie(COOKIE, path="/")
    return response


@bp.app_template_filter("b64")
def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
