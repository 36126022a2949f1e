"""Console pages of events (a live tail with filters, one event's deliveries and attempts,
redeliver) and of webhook endpoints (state, enable, recover)."""

from __future__ import annotations

from urllib.parse import quote

from quart import Blueprint, Response, request

from unifyport.http.console.base import ApiErrorPage, call, checked_form, fetch, page, see_other

bp = Blueprint("console_events", __name__, url_prefix="/console")
FILTERS = ("type", "account_id")


def _filters() -> dict[str, str]:
    return {k: request.args.get(k, "")[:128] for k in FILTERS}


async def _events() -> tuple[list[dict[str, object]], dict[str, object]]:
    answer = await call("GET", "/v1/events", query={"limit": "50", **_filters()})
    return answer.data, answer.error


@bp.get("/events")
async def events() -> Response:
    rows, error = await _events()
    return await page("events.html", events=rows, error=error, filters=_filters())


@bp.get("/events/rows")
async def event_rows() -> Response:
    rows, _ = await _events()
    return await page("_event_rows.html", events=rows)


@bp.get("/events/<event_id>")
async def event(event_id: str) -> Response:
    return await page("event.html", event=await _event(event_id),
                      done=request.args.get("done", ""), error={})


async def _event(event_id: str) -> dict[str, object]:
    return await fetch(f"/v1/events/{quote(event_id, safe='')}")


@bp.post("/events/<event_id>/redeliver")
async def redeliver(event_id: str) -> Response:
    await checked_form()
    answer = await call("POST", f"/v1/events/{quote(event_id, safe='')}/redeliver", {})
    if answer.ok:
        return see_other("console_events.event", event_id=event_id, done="redelivered")
    return await page("event.html", answer.status, event=await _event(event_id), done="",
                      error=answer.error)


@bp.get("/webhooks")
async def webhooks() -> Response:
    answer = await call("GET", "/v1/webhooks/endpoints")
    return await page("webhooks.html", endpoints=answer.data,
                      available=answer.status != 404, error=answer.error,
                      done=request.args.get("done", ""))


@bp.post("/webhooks/<name>/<any(enable, recover):action>")
async def webhook_action(name: str, action: str) -> Response:
    form = await checked_form()
    body = {"since": form["since"]} if action == "recover" and form.get("since") else {}
    answer = await call("POST", f"/v1/webhooks/endpoints/{quote(name, safe='')}/{action}", body)
    if answer.ok:
        return see_other("console_events.webhooks", done=f"{action}:{name}")
    raise ApiErrorPage.of(answer)
