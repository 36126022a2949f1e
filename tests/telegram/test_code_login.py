"""Code login through the HTTP API against the sandbox, on both backends."""

from __future__ import annotations

from tests.support.gateway import Api
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import create, events, step


async def test_code_login_without_2fa(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550001001", "Ada", "Lovelace", username="ada")
    acc = await create(api, "code", phone="+15550001001")
    status, body = await step(api, acc, "start")
    assert status == 200, body
    assert body["status"] == "awaiting_code"
    sent = await events(api, acc, "account.auth.code_sent")
    assert sent and sent[0]["data"]["code_type"] in ("app", "sms")
    code = await sb.control.get_code("+15550001001")
    status, body = await step(api, acc, "code", {"code": code})
    assert status == 200, body
    assert body["status"] == "authorized"
    assert body["account"]["identity"] == {
        "id": str(user["id"]), "username": "ada", "display_name": "Ada Lovelace",
        "phone": "+15550001001"}
    authorized = await events(api, acc, "account.authorized")
    assert authorized[0]["data"]["identity"]["id"] == str(user["id"])


async def test_wrong_code_keeps_awaiting_code(api: Api, sb: RunningSandbox) -> None:
    await sb.control.create_user("+15550001002", "Bob")
    acc = await create(api, "code", phone="+15550001002")
    assert (await step(api, acc, "start"))[0] == 200
    status, body = await step(api, acc, "code", {"code": "00000"})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_code"
    code = await sb.control.get_code("+15550001002")
    status, body = await step(api, acc, "code", {"code": code})
    assert (status, body["status"]) == (200, "authorized")


async def test_2fa_password(api: Api, sb: RunningSandbox) -> None:
    await sb.control.create_user("+15550001003", "Cy", password="hunter2")
    acc = await create(api, "code", phone="+15550001003")
    await step(api, acc, "start")
    code = await sb.control.get_code("+15550001003")
    status, body = await step(api, acc, "code", {"code": code})
    assert (status, body["status"]) == (200, "awaiting_password"), body
    status, body = await step(api, acc, "password", {"password": "hunter2"})
    assert (status, body["status"]) == (200, "authorized"), body
