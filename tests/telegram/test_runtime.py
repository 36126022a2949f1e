"""The online runtime: inbound and outbound messages, catch-up after a restart, revocation
while online, logout on deletion — through the HTTP API against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from tests.support.gateway import Api
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import (
    authorized,
    events,
    online,
    received,
    revoke_and_see_logout,
    runtime_status,
    wait_logged_out,
    wait_running,
)

Gateway = Callable[[], AbstractAsyncContextManager[Api]]


async def test_private_message_becomes_an_event(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004001")
    friend = await sb.control.create_user("+15550004002", "Fay", "Friend", username="fay")
    await online(api, acc)
    pushed = await sb.control.push_message(me["id"], friend["id"], "hello there")
    [event] = await received(api, acc)
    assert event["data"]["provider"] == "telegram"
    message = event["data"]["message"]
    assert message["id"] == str(pushed["id"])
    assert message["text"] == "hello there"
    assert message["chat"] == {"id": str(friend["id"]), "type": "private", "title": "Fay Friend"}
    assert message["sender"] == {"id": str(friend["id"]), "display_name": "Fay Friend",
                                 "username": "fay"}
    assert message["reply_to_id"] is None and message["date"].endswith("Z")
    assert "media" not in message


async def test_group_message(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004011")
    friend = await sb.control.create_user("+15550004012", "Gus")
    await online(api, acc)
    await sb.control.push_message(me["id"], friend["id"], "hi all", chat="Team")
    [event] = await received(api, acc)
    message = event["data"]["message"]
    assert message["chat"]["type"] == "group" and message["chat"]["title"] == "Team"
    assert int(message["chat"]["id"]) < 0
    assert message["sender"]["id"] == str(friend["id"])


async def test_send_message_and_reply(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004021")
    friend = await sb.control.create_user("+15550004022", "Hal")
    await online(api, acc)
    pushed = await sb.control.push_message(me["id"], friend["id"], "ping")
    await received(api, acc)
    status, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": str(friend["id"]), "text": "pong",
                                   "reply_to_id": str(pushed["id"])})
    assert status == 201, sent
    assert sent["text"] == "pong" and sent["chat"]["id"] == str(friend["id"])
    assert sent["reply_to_id"] == str(pushed["id"])
    assert sent["sender"]["id"] == str(me["id"])
    assert sent["sender"]["display_name"] == "Owner"
    assert sent["chat"]["title"] == "Hal"
    inbox = await sb.control.messages(friend["id"])
    assert any(m["text"] == "pong" and not m["out"] for m in inbox)
    [event] = await events(api, acc, "message.sent")
    assert event["data"]["message"]["id"] == sent["id"]


async def test_send_to_unknown_chat(api: Api, sb: RunningSandbox) -> None:
    acc, _ = await authorized(api, sb, "+15550004031")
    await online(api, acc)
    status, body = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": "987654321", "text": "anyone?"})
    assert (status, body["error"]["code"]) == (404, "chat_not_found"), body


async def test_missed_messages_arrive_after_restart(gateway: Gateway,
                                                    sb: RunningSandbox) -> None:
    async with gateway() as api:
        acc, me = await authorized(api, sb, "+15550004041")
        friend = await sb.control.create_user("+15550004042", "Ida")
        await online(api, acc)
        await sb.control.push_message(me["id"], friend["id"], "while online")
        await received(api, acc)
    await sb.control.push_message(me["id"], friend["id"], "while offline 1")
    await sb.control.push_message(me["id"], friend["id"], "while offline 2")
    async with gateway() as api:
        got = await received(api, acc, 3)
        texts = sorted(e["data"]["message"]["text"] for e in got)
        assert texts == ["while offline 1", "while offline 2", "while online"]
        # The catch-up is stored before the runtime reports running: wait for it (bounded).
        await wait_running(api, acc)


async def test_revoked_while_online_logs_out(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004051")
    await online(api, acc)
    await revoke_and_see_logout(api, sb, acc, me["id"])
    assert await runtime_status(api, acc) == "stopped"


async def test_forgotten_key_while_online_logs_out(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004061")
    await online(api, acc)
    assert await sb.control.forget_keys(me["id"]) >= 1
    await wait_logged_out(api, acc, attempts=400)
    [event] = await events(api, acc, "account.logged_out")
    assert event["data"]["reason"] == "auth_key_unknown"


async def test_delete_logs_out_at_telegram(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004071")
    await online(api, acc)
    status, _ = await api.call("DELETE", f"/v1/accounts/{acc}")
    assert status in (200, 204)
    log = await sb.control.requests()
    assert any(r["method"] == "auth.logOut" and r["user_id"] == me["id"] for r in log)


async def test_messages_before_first_start_are_delivered(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004081")
    friend = await sb.control.create_user("+15550004082", "Jo")
    await sb.control.push_message(me["id"], friend["id"], "sent before runtime/start")
    await online(api, acc)
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "sent before runtime/start"


@pytest.mark.parametrize(("error", "reason"), [
    ("AUTH_KEY_UNREGISTERED", "auth_key_unregistered"),
    ("AUTH_KEY_DUPLICATED", "auth_key_duplicated"),
    ("SESSION_REVOKED", "session_revoked"),
])
async def test_dead_session_errors_log_out(api: Api, sb: RunningSandbox, error: str,
                                           reason: str) -> None:
    acc, _ = await authorized(api, sb, "+15550004091")
    await online(api, acc)
    await sb.control.inject_fault("updates.getState", error, times=100)
    await wait_logged_out(api, acc, attempts=400)
    [event] = await events(api, acc, "account.logged_out")
    assert event["data"]["reason"] == reason
    status, body = await api.post(f"/v1/accounts/{acc}/runtime/start")
    assert (status, body["error"]["code"]) == (409, "invalid_state")


async def test_flood_wait_on_send(api: Api, sb: RunningSandbox) -> None:
    acc, _ = await authorized(api, sb, "+15550004101")
    friend = await sb.control.create_user("+15550004102", "Kai")
    await online(api, acc)
    await sb.control.inject_fault("messages.sendMessage", "FLOOD_WAIT_7")
    status, body = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": str(friend["id"]), "text": "too fast"})
    assert (status, body["error"]["code"], body["error"]["retry_after"]) == (
        429, "flood_wait", 7)
    assert await runtime_status(api, acc) == "running"


async def test_inbound_reply(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004111")
    friend = await sb.control.create_user("+15550004112", "Lou")
    await online(api, acc)
    first = await sb.control.push_message(me["id"], friend["id"], "question")
    await sb.control.push_message(me["id"], friend["id"], "follow-up", reply_to_id=first["id"])
    got = await received(api, acc, 2)
    by_text = {e["data"]["message"]["text"]: e["data"]["message"] for e in got}
    assert by_text["question"]["reply_to_id"] is None
    assert by_text["follow-up"]["reply_to_id"] == str(first["id"])


async def test_account_on_the_other_dc_goes_online(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550004121", dc_id=1)
    friend = await sb.control.create_user("+15550004122", "Max")
    await online(api, acc)
    await sb.control.push_message(me["id"], friend["id"], "to dc 1")
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "to dc 1"
    status, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": str(friend["id"]), "text": "from dc 1"})
    assert status == 201, sent
