"""Helpers for webhook tests: configuration, events, the sink, bounded waits."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from tests.support.gateway import Api, make_settings, running
from tests.webhooks.receiver import Received
from unifyport.accounts.service import emit
from unifyport.db.repositories import EventRepository
from unifyport.delivery.clock import ManualClock
from unifyport.delivery.engine import DeliveryEngine
from unifyport.gateway import Gateway


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_toml(name: str, url: str, secret: str | list[str], events: Sequence[str] = ("*",),
                  **extra: Any) -> str:
    lines = ["[[plugins.webhook.endpoints]]", f'name = "{name}"', f'url = "{url}"',
             f"secret = {json.dumps(secret)}", f"events = {json.dumps(list(events))}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def config_toml(*endpoints: str, schedule: Sequence[float | str] = (0, 60, 120),
                jitter: float = 0.0, disable_after: str = "5d",
                allow: str = "127.0.0.1/32") -> str:
    return (f'[security]\noutbound_allow_cidrs = ["{allow}"]\n' if allow else "") + (
        "[plugins.webhook]\n"
        f"retry_schedule = {json.dumps(list(schedule))}\n"
        f"retry_jitter = {jitter}\n"
        f'disable_after = "{disable_after}"\n'
    ) + "".join(endpoints)


@asynccontextmanager
async def webhook_app(data_dir: Path, toml: str, database_url: str | None = None,
                      manual_clock: bool = True) -> AsyncIterator[tuple[Api, DeliveryEngine]]:
    """The gateway with the webhook plugin configured by ``toml``; the delivery engine that
    drives its sink, on a manual clock."""
    settings = make_settings(data_dir, toml, database_url=database_url)
    async with running(settings) as api:
        engine = api.gateway.sink_engines["webhook"]
        if manual_clock:
            engine.clock = ManualClock()
        yield api, engine


async def emit_events(gw: Gateway, count: int = 1, type: str = "message.received",
                      account_id: str = "acc_test") -> list[str]:
    """Write ``count`` events through the core's outbox (one transaction); their ids."""
    async with gw.db.write() as s:
        for i in range(count):
            emit(s, type, account_id, {"n": i})
        await s.flush()
        rows = await EventRepository(s).page(count, None, type=type)
    return [e.id for e in reversed(rows)]


def verify(secret: str, rec: Received) -> dict[str, Any]:
    """Verify ``rec`` with ``standardwebhooks`` (raises when the signature is wrong)."""
    payload = Webhook(secret).verify(rec.body, rec.headers)
    assert isinstance(payload, dict)
    return payload


async def wait_until(check: Callable[[], Awaitable[bool]], within: float = 10.0,
                     what: str = "condition") -> None:
    """Poll ``check`` every 20 ms until true, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def event_deliveries(api: Api, event_id: str) -> list[dict[str, Any]]:
    status, body = await api.get(f"/v1/events/{event_id}")
    assert status == 200, body
    deliveries: list[dict[str, Any]] = body["deliveries"]
    return deliveries


async def delivery_status(api: Api, event_id: str) -> str | None:
    """The status of the event's first delivery; ``None`` while it has none."""
    deliveries = await event_deliveries(api, event_id)
    return deliveries[0]["status"] if deliveries else None


async def wait_for_status(api: Api, event_id: str, status: str, what: str = "") -> None:
    """Wait (bounded) until the event's first delivery has ``status``."""
    async def reached() -> bool:
        return await delivery_status(api, event_id) == status

    await wait_until(reached, what=what or f"delivery {status}")


async def endpoint_state(api: Api, name: str) -> dict[str, Any]:
    status, body = await api.get("/v1/webhooks/endpoints")
    assert status == 200, body
    return next(e for e in body["data"] if e["name"] == name)
