"""Runtime supervision: start/stop, resume after restart, reconnect, revocation, sending."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.runtime.tasks import backoff_delay

CODE = {"provider": "testprov", "auth_mode": "code",
        "provider_data": {"api_id": 1, "api_hash": "h", "phone": "+15551234567"}}


async def authorized(api: Api) -> str:
    _, account = await api.post("/v1/accounts", CODE)
    acc = str(account["id"])
    await api.post(f"/v1/accounts/{acc}/auth/session/start")
    _, body = await api.post(f"/v1/accounts/{acc}/auth/session/code", {"code": "12345"})
    assert body["status"] == "authorized"
    return acc


async def until(check: Callable[[], Awaitable[bool]], limit: float = 5.0) -> None:
    """Poll ``check`` every 10 ms until it holds (at most ``limit`` seconds)."""
    for _ in range(int(limit / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


def runtime_is(api: Api, acc: str, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        _, body = await api.get(f"/v1/accounts/{acc}/runtime")
        return bool(body["status"] == status)
    return check


async def events_of(api: Api, acc: str, type: str) -> list[dict[str, Any]]:
    _, page = await api.get(f"/v1/events?account_id={acc}&type={type}&limit=200")
    return [e["data"] for e in reversed(page["data"])]


async def test_start_requires_authorized(api: Api) -> None:
    _, account = await api.post("/v1/accounts", CODE)
    status, body = await api.post(f"/v1/accounts/{account['id']}/runtime/start")
    assert status == 409 and body["error"]["code"] == "invalid_state"
    assert body["error"]["status"] == "pending"
    status, body = await api.post("/v1/accounts/acc_nope/runtime/start")
    assert status == 404


async def test_start_run_stop_and_events(api: Api, provider: TestProvider) -> None:
    acc = await authorized(api)
    status, body = await api.post(f"/v1/accounts/{acc}/runtime/start")
    assert status == 200 and body["status"] in ("starting", "running")
    await until(runtime_is(api, acc, "running"))
    provider.control(acc, "m1")
    await until(lambda: _has_events(api, acc, "message.received", 1))
    status, body = await api.post(f"/v1/accounts/{acc}/runtime/stop")
    assert status == 200 and body["status"] == "stopped"
    changes = await events_of(api, acc, "account.runtime.state_changed")
    assert [(c["from"], c["to"]) for c in changes] == [
        ("stopped", "starting"), ("starting", "running"), ("running", "stopped")]


async def _has_events(api: Api, acc: str, type: str, n: int) -> bool:
    return len(await events_of(api, acc, type)) >= n


async def test_comes_back_after_restart_until_stopped(data_dir: Path) -> None:
    settings = make_settings(data_dir, CORE_ONLY)
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        acc = await authorized(api)
        await api.post(f"/v1/accounts/{acc}/runtime/start")
        await until(runtime_is(api, acc, "running"))
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        await until(runtime_is(api, acc, "running"))
        await api.post(f"/v1/accounts/{acc}/runtime/stop")
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        await asyncio.sleep(0.05)
        _, body = await api.get(f"/v1/accounts/{acc}/runtime")
        assert body["status"] == "stopped"
        assert api.gateway.runtime is not None and not api.gateway.runtime.is_running(acc)


async def test_dropped_link_reconnects(api: Api, provider: TestProvider) -> None:
    acc = await authorized(api)
    await api.post(f"/v1/accounts/{acc}/runtime/start")
    await until(runtime_is(api, acc, "running"))
    provider.control(acc, "drop")
    await until(lambda: _has_events(api, acc, "account.runtime.state_changed", 4))
    await until(runtime_is(api, acc, "running"))
    changes = await events_of(api, acc, "account.runtime.state_changed")
    assert (changes[2]["from"], changes[2]["to"]) == ("running", "reconnecting")
    assert changes[2]["error"] == "ConnectionError: link dropped"


async def test_revocation_logs_the_account_out(api: Api, provider: TestProvider) -> None:
    acc = await authorized(api)
    await api.post(f"/v1/accounts/{acc}/runtime/start")
    await until(runtime_is(api, acc, "running"))
    provider.control(acc, "revoke")
    await until(runtime_is(api, acc, "stopped"))
    _, account = await api.get(f"/v1/accounts/{acc}")
    assert account["status"] == "logged_out"
    assert account["runtime"]["error"] == "session_revoked"
    assert await events_of(api, acc, "account.logged_out") == [
        {"account_id": acc, "reason": "session_revoked"}]
    assert api.gateway.runtime is not None and not api.gateway.runtime.is_running(acc)
    _, body = await api.post(f"/v1/accounts/{acc}/auth/session/start")
    assert body["status"] == "awaiting_code"


async def test_send_message(api: Api, provider: TestProvider) -> None:
    acc = await authorized(api)
    status, body = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": 42, "text": "hi"})
    assert status == 409 and body["error"]["code"] == "runtime_not_running"
    await api.post(f"/v1/accounts/{acc}/runtime/start")
    await until(runtime_is(api, acc, "running"))
    status, body = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": 42, "text": "hi", "reply_to_id": 7})
    assert status == 201 and body["text"] == "hi" and body["reply_to_id"] == "7"
    assert provider.sent == [(acc, "42", "hi")]
    assert (await events_of(api, acc, "message.sent"))[0]["message"] == body
    status, body = await api.post(f"/v1/accounts/{acc}/messages", {"chat_id": 1, "text": "fail"})
    assert status == 429 and body["error"]["retry_after"] == 3
    status, body = await api.post(f"/v1/accounts/{acc}/messages", {"chat_id": 1, "text": ""})
    assert status == 422


def test_backoff_is_bounded_and_grows() -> None:
    assert all(0 <= backoff_delay(0) <= 1.0 for _ in range(100))
    assert all(0 <= backoff_delay(30) <= 60.0 for _ in range(100))
    assert max(backoff_delay(5) for _ in range(200)) > 1.0
