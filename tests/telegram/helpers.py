"""Small helpers shared by the Telegram contract tests."""

from __future__ import annotations

from typing import Any

from tests.support.gateway import Api
from tests.support.waiting import wait_for
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import CREDS


async def post_account(api: Api, mode: str, **provider_data: Any) -> tuple[int, Any]:
    """``POST /v1/accounts`` for a Telegram account with the test credentials."""
    return await api.post("/v1/accounts", {
        "provider": "telegram", "auth_mode": mode,
        "provider_data": {**CREDS, **provider_data}})


async def create(api: Api, mode: str, **provider_data: Any) -> str:
    status, body = await post_account(api, mode, **provider_data)
    assert status == 201, body
    return str(body["id"])


async def step(api: Api, account_id: str, name: str, body: Any = None) -> tuple[int, Any]:
    return await api.post(f"/v1/accounts/{account_id}/auth/session/{name}", body or {})


async def events(api: Api, account_id: str, type_: str | None = None) -> list[dict[str, Any]]:
    query = f"?account_id={account_id}&limit=100" + (f"&type={type_}" if type_ else "")
    status, body = await api.get(f"/v1/events{query}")
    assert status == 200, body
    return list(body["data"])


async def authorized(api: Api, sb: Any, phone: str, name: str = "Owner",
                     **user: Any) -> tuple[str, dict[str, Any]]:
    """A sandbox user logged in through the code flow: (account id, sandbox user)."""
    created = await sb.control.create_user(phone, name, **user)
    acc = await create(api, "code", phone=phone)
    status, body = await step(api, acc, "start")
    assert status == 200, body
    status, body = await step(api, acc, "code", {"code": await sb.control.get_code(phone)})
    assert (status, body["status"]) == (200, "authorized"), body
    return acc, created


async def runtime_status(api: Api, acc: str) -> str:
    status, body = await api.get(f"/v1/accounts/{acc}/runtime")
    assert status == 200, body
    return str(body["status"])


async def wait_running(api: Api, acc: str) -> None:
    """Wait until the account's runtime reports ``running``."""
    async def running() -> bool:
        return await runtime_status(api, acc) == "running"
    await wait_for(running, "runtime running")


async def online(api: Api, acc: str) -> None:
    status, body = await api.post(f"/v1/accounts/{acc}/runtime/start")
    assert status == 200, body
    await wait_running(api, acc)


async def wait_logged_out(api: Api, acc: str, attempts: int = 200) -> None:
    """Wait until the account's status is ``logged_out``."""
    async def logged_out() -> bool:
        _, body = await api.get(f"/v1/accounts/{acc}")
        return bool(body["status"] == "logged_out")
    await wait_for(logged_out, "account logged out", attempts=attempts)


async def revoke_and_see_logout(api: Api, sb: RunningSandbox, acc: str, user_id: int,
                                attempts: int = 200) -> None:
    """Revoke the user's sessions in the sandbox; the account is logged out for it."""
    assert await sb.control.revoke_sessions(user_id) >= 1
    await wait_logged_out(api, acc, attempts=attempts)
    [event] = await events(api, acc, "account.logged_out")
    assert event["data"]["reason"] == "session_revoked"


async def received(api: Api, acc: str, count: int = 1) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        got = await events(api, acc, "message.received")
        return got if len(got) >= count else None
    return list(await wait_for(probe, f"{count} message.received event(s)"))
