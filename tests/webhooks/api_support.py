"""A gateway with the webhook plugin and the test provider, driven through the HTTP API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.gateway import Api, make_settings, running
from tests.support.testprovider import TestPlugin
from tests.webhooks.receiver import Receiver

TOML = ('[security]\noutbound_allow_cidrs = ["127.0.0.1/32"]\n'
        '[plugins]\ndisabled = ["telegram", "matrix"]\n')
CODE = {"provider": "testprov", "auth_mode": "code",
        "provider_data": {"api_id": 1, "api_hash": "h", "phone": "+15551234567"}}


@asynccontextmanager
async def hooks_app(data_dir: Path, database_url: str | None = None, toml: str = "",
                    plugin: TestPlugin | None = None) -> AsyncIterator[tuple[Api, TestPlugin]]:
    plugin = plugin or TestPlugin()
    settings = make_settings(data_dir, TOML + toml, database_url=database_url)
    async with running(settings, (("testprov", plugin),)) as api:
        yield api, plugin


async def new_account(api: Api, **extra: Any) -> dict[str, Any]:
    status, body = await api.post("/v1/accounts", {**CODE, **extra})
    assert status == 201, body
    return dict(body)


async def authorize(api: Api, account_id: str) -> None:
    await api.post(f"/v1/accounts/{account_id}/auth/session/start")
    status, body = await api.post(f"/v1/accounts/{account_id}/auth/session/code",
                                  {"code": "12345"})
    assert status == 200 and body["status"] == "authorized", body


async def create_endpoint(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    status, body = await api.post("/v1/webhooks", {"url": url, **fields})
    assert status == 201, body
    assert body["secret"].startswith("whsec_")
    return dict(body)


def types(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.received]


async def settle(seconds: float = 0.5) -> None:
    """Give deliveries that should not happen the time to happen."""
    await asyncio.sleep(seconds)
