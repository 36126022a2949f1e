"""Small helpers shared by the Telegram contract tests."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.gateway import Api

from .conftest import CREDS


async def create(api: Api, mode: str, **provider_data: Any) -> str:
    status, body = await api.post("/v1/accounts", {
        "provider": "telegram", "auth_mode": mode,
        "provider_data": {**CREDS, **provider_data}})
    assert status == 201, body
    return str(body["id"])


async def step(api: Api, account_id: str, name: str, body: Any = None) -> tuple[int, Any]:
    return await api.post(f"/v1/accounts/{account_id}/auth/session/{name}", body or {})


async def events(api: Api, account_id: str, type_: str | None = None) -> list[dict[str, Any]]:
    query = f"?account_id={account_id}&limit=100" + (f"&type={type_}" if type_ else "")
    status, body = await api.get(f"/v1/events{query}")
    assert status == 200, body
    return list(body["data"])


async def wait_for(predicate: Any, what: str, attempts: int = 200, delay: float = 0.05) -> Any:
    """Poll ``await predicate()`` until it returns something truthy (bounded)."""
    for _ in range(attempts):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(delay)
    raise AssertionError(f"timed out waiting for {what}")
