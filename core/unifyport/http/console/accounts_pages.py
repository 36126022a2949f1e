"""Console pages of accounts: the live list, creating one from its provider's declared
fields, its page with the login wizard (every declared step), the QR, runtime and delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from quart import Blueprint, Response, request

from unifyport.http.console.base import (
    ApiErrorPage,
    call,
    checked_form,
    fetch,
    page,
    see_other,
)
from unifyport.http.console.client import Answer

bp = Blueprint("console_accounts", __name__, url_prefix="/console/accounts")
QR_START, QR_CHECK = "qr/start", "qr/check"
SHOWS_QR = frozenset({"awaiting_qr_scan", "qr_expired"})
RELOAD = {"X-Console-Reload": "1"}


def slug(step: str) -> str:
    return step.replace("/", "-")


def typed(fields: list[dict[str, Any]], form: dict[str, str], *, step: bool = False
          ) -> dict[str, dict[str, Any]]:
    """Form values by location (``provider_data``, ``params``, or ``body`` for a step's own
    fields): empty optional ones left out, checkboxes as booleans, the rest as typed (the
    API turns digit strings into integers and checks every bound)."""
    out: dict[str, dict[str, Any]] = {"provider_data": {}, "params": {}, "body": {}}
    for spec in fields:
        where = out["body" if step else spec["location"]]
        if spec["type"] == "boolean":
            where[spec["name"]] = form.get(spec["name"]) == "on"
        elif (value := form.get(spec["name"], "")) != "" or spec["required"]:
            where[spec["name"]] = value
    return out


async def declaration(provider: str) -> dict[str, Any]:
    return await fetch(f"/v1/providers/{quote(provider, safe='')}")


def mode_of(decl: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((m for m in decl["auth_modes"] if m["name"] == name), None)


async def _accounts() -> tuple[Answer, dict[str, str]]:
    filters = {k: request.args.get(k, "")[:64] for k in ("provider", "status")}
    return await call("GET", "/v1/accounts", query={"limit": "200", **filters}), filters


@bp.get("")
async def list_() -> Response:
    answer, filters = await _accounts()
    providers = await call("GET", "/v1/providers")
    return await page("accounts.html", accounts=answer.data, error=answer.error,
                      filters=filters, providers=providers.data)


@bp.get("/rows")
async def rows() -> Response:
    answer, _ = await _accounts()
    return await page("_account_rows.html", accounts=answer.data)


@bp.get("/new")
async def new() -> Response:
    providers = await call("GET", "/v1/providers")
    name, mode_name = request.args.get("provider", ""), request.args.get("mode", "")
    decl = next((p for p in providers.data if p["name"] == name), None)
    mode = mode_of(decl, mode_name) if decl else None
    return await page("account_new.html", providers=providers.data,
                      decl=decl, mode=mode, values={}, errors={}, error={})


@bp.post("/new")
async def create() -> Response:
    form = await checked_form()
    decl = await declaration(form.get("provider", ""))
    mode = mode_of(decl, form.get("auth_mode", ""))
    if mode is None:
        raise ApiErrorPage(422, "validation_failed", "unknown auth mode")
    values = typed(mode["fields"], form)
    body = {"provider": decl["name"], "auth_mode": mode["name"],
            "provider_data": values["provider_data"], "params": values["params"],
            **({"name": form["name"]} if form.get("name") else {})}
    answer = await call("POST", "/v1/accounts", body)
    if answer.ok:
        return see_other("console_accounts.show", account_id=answer.body["id"])
    shown = {f["name"]: form.get(f["name"], "") for f in mode["fields"] if not f["secret"]}
    shown["name"] = form.get("name", "")
    return await page("account_new.html", 422 if answer.status == 422 else answer.status,
                      providers=[], decl=decl, mode=mode, values=shown,
                      errors=answer.field_errors(), error=answer.error)


async def _account(account_id: str) -> dict[str, Any]:
    return await fetch(f"/v1/accounts/{quote(account_id, safe='')}")


def wizard(mode: dict[str, Any], status: str) -> tuple[list[dict[str, Any]], bool]:
    """The steps to offer in ``status`` (as forms) and whether to show the live QR: a mode
    with ``qr/start`` and ``qr/check`` gets the QR panel, polling ``qr/check``."""
    names = {s["name"] for s in mode["steps"]}
    qr = {QR_START, QR_CHECK} <= names and status in SHOWS_QR
    steps = [s for s in mode["steps"] if status in s["sources"] and s["name"] != QR_CHECK
             and not (qr and s["name"] == QR_START)]
    return steps, qr


async def _show(account: dict[str, Any], status: int = 200, failed: str = "",
                error: dict[str, Any] | None = None, errors: dict[str, str] | None = None
                ) -> Response:
    decl = await declaration(account["provider"])
    mode = mode_of(decl, account["auth_mode"]) or {"steps": [], "fields": []}
    steps, qr = wizard(mode, account["status"])
    return await page("account.html", status, account=account, mode=mode, steps=steps,
                      show_qr=qr, failed=failed, error=error or {}, errors=errors or {}, slug=slug)


@bp.get("/<account_id>")
async def show(account_id: str) -> Response:
    return await _show(await _account(account_id))


@bp.get("/<account_id>/live")
async def live(account_id: str) -> Response:
    """The status fragment the page polls; asks for a page refresh when the login status
    is no longer the one the page shows."""
    account = await _account(account_id)
    response = await page("_account_live.html", account=account)
    if account["status"] != request.args.get("shown", account["status"]):
        response.headers.update(RELOAD)
    return response


@bp.post("/<account_id>/qr")
async def qr(account_id: str) -> Response:
    """``qr/check``, and ``qr/start`` again when the code expired: the panel the page polls
    about once a second until the scan, a new status or a cancel."""
    await checked_form()
    base = f"/v1/accounts/{quote(account_id, safe='')}/auth/session/"
    answer = await call("POST", base + QR_CHECK)
    if answer.ok and answer.body["status"] == "qr_expired":
        answer = await call("POST", base + QR_START)
    if not answer.ok or answer.body["status"] not in SHOWS_QR:
        return Response("", 200, RELOAD)
    return await page("_qr.html", qr=answer.body.get("qr"))


@bp.post("/<account_id>/step/<path:step>")
async def step(account_id: str, step: str) -> Response:
    form = await checked_form()
    account = await _account(account_id)
    decl = await declaration(account["provider"])
    mode = mode_of(decl, account["auth_mode"]) or {"steps": []}
    spec = next((s for s in mode["steps"] if s["name"] == step), None)
    if spec is None:
        raise ApiErrorPage(404, "not_found", "no such step")
    answer = await call("POST", f"/v1/accounts/{quote(account_id, safe='')}/auth/session/"
                        + step, typed(spec["fields"], form, step=True)["body"])
    if answer.ok:
        return see_other("console_accounts.show", account_id=account_id)
    errors = answer.field_errors()
    if not errors and len(spec["fields"]) == 1:  # a wrong code: next to the code field
        errors = {spec["fields"][0]["name"]: answer.error.get("message", "")}
    return await _show(await _account(account_id), answer.status, step, answer.error, errors)


@bp.post("/<account_id>/runtime/<any(start, stop):action>")
async def runtime(account_id: str, action: str) -> Response:
    await checked_form()
    answer = await call("POST", f"/v1/accounts/{quote(account_id, safe='')}/runtime/{action}")
    if answer.ok:
        return see_other("console_accounts.show", account_id=account_id)
    return await _show(await _account(account_id), answer.status, "runtime", answer.error)


@bp.get("/<account_id>/delete")
async def confirm_delete(account_id: str) -> Response:
    return await page("account_delete.html", account=await _account(account_id))


@bp.post("/<account_id>/delete")
async def delete(account_id: str) -> Response:
    await checked_form()
    answer = await call("DELETE", f"/v1/accounts/{quote(account_id, safe='')}")
    if not answer.ok:
        raise ApiErrorPage.of(answer)
    return see_other("console_accounts.list_", deleted=account_id)
