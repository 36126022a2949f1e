"""Every error of the code flow, restarts in the middle of it and cancel, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from tests.support.gateway import Api
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import create, events, post_account, step

Gateway = Callable[[], AbstractAsyncContextManager[Api]]


async def _account(api: Api, sb: RunningSandbox, phone: str, **user: str) -> str:
    await sb.control.create_user(phone, "Test", **user)
    return await create(api, "code", phone=phone)


async def test_unknown_phone_is_phone_invalid(api: Api) -> None:
    acc = await create(api, "code", phone="+15550009999")
    status, body = await step(api, acc, "start")
    assert (status, body["error"]["code"], body["error"]["status"]) == (
        400, "phone_invalid", "pending")


async def test_phone_must_be_e164(api: Api) -> None:
    status, body = await post_account(api, "code", phone="5550001")
    assert status == 422 and "provider_data.phone" in body["error"]["fields"]


async def test_banned_phone(api: Api, sb: RunningSandbox) -> None:
    acc = await _account(api, sb, "+15550002001")
    await sb.control.inject_fault("auth.sendCode", "PHONE_NUMBER_BANNED")
    status, body = await step(api, acc, "start")
    assert (status, body["error"]["code"]) == (403, "phone_banned")


async def test_flood_wait_reaches_the_caller(api: Api, sb: RunningSandbox) -> None:
    acc = await _account(api, sb, "+15550002002")
    await sb.control.inject_fault("auth.sendCode", "FLOOD_WAIT_42")
    response = await api.client.post(f"/v1/accounts/{acc}/auth/session/start", json={},
                                     headers={"Authorization": f"Bearer {api.key}"})
    body = await response.get_json()
    assert response.status_code == 429
    assert (body["error"]["code"], body["error"]["retry_after"]) == ("flood_wait", 42)
    assert response.headers["Retry-After"] == "42"
    _, account = await api.get(f"/v1/accounts/{acc}")
    assert account["last_error"]["retry_after"] == 42


async def test_expired_code_fails_the_flow(api: Api, sb: RunningSandbox) -> None:
    acc = await _account(api, sb, "+15550002003")
    await step(api, acc, "start")
    code = await sb.control.get_code("+15550002003")
    await sb.control.expire_code("+15550002003")
    status, body = await step(api, acc, "code", {"code": code})
    assert (status, body["error"]["code"], body["error"]["status"]) == (
        400, "code_expired", "failed")
    status, body = await step(api, acc, "start")
    assert (status, body["status"]) == (200, "awaiting_code")


async def test_wrong_password_fails_then_start_again(api: Api, sb: RunningSandbox) -> None:
    acc = await _account(api, sb, "+15550002004", password="right")
    await step(api, acc, "start")
    await step(api, acc, "code", {"code": await sb.control.get_code("+15550002004")})
    status, body = await step(api, acc, "password", {"password": "wrong"})
    assert (status, body["error"]["code"], body["error"]["status"]) == (
        400, "invalid_password", "failed")
    changes = await events(api, acc, "account.auth.state_changed")
    assert changes[0]["data"]["to"] == "failed"
    assert changes[0]["data"]["error"]["code"] == "invalid_password"
    status, _ = await step(api, acc, "password", {"password": "right"})
    assert status == 409
    await step(api, acc, "start")
    await step(api, acc, "code", {"code": await sb.control.get_code("+15550002004")})
    status, body = await step(api, acc, "password", {"password": "right"})
    assert (status, body["status"]) == (200, "authorized")


async def test_cancel_returns_to_pending(api: Api, sb: RunningSandbox) -> None:
    acc = await _account(api, sb, "+15550002005")
    await step(api, acc, "start")
    status, body = await step(api, acc, "start")
    assert (status, body["error"]["code"]) == (409, "invalid_state")
    status, body = await step(api, acc, "cancel")
    assert (status, body["status"]) == (200, "pending")
    status, body = await step(api, acc, "code", {"code": "12345"})
    assert (status, body["error"]["code"]) == (409, "invalid_state")


async def test_code_after_restart(gateway: Gateway, sb: RunningSandbox) -> None:
    async with gateway() as api:
        acc = await _account(api, sb, "+15550002006", password="pw")
        await step(api, acc, "start")
    code = await sb.control.get_code("+15550002006")
    async with gateway() as api:
        status, body = await step(api, acc, "code", {"code": code})
        assert (status, body["status"]) == (200, "awaiting_password"), body
    async with gateway() as api:
        status, body = await step(api, acc, "password", {"password": "pw"})
        assert (status, body["status"]) == (200, "authorized"), body


async def test_code_login_on_the_other_dc(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550002007", "Far", dc_id=1)
    acc = await create(api, "code", phone="+15550002007")
    status, body = await step(api, acc, "start")
    assert (status, body["status"]) == (200, "awaiting_code"), body
    status, body = await step(api, acc, "code",
                              {"code": await sb.control.get_code("+15550002007")})
    assert (status, body["status"]) == (200, "authorized"), body
    assert body["account"]["identity"]["id"] == str(user["id"])
