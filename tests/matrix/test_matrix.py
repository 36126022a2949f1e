"""The Matrix contract through the HTTP API against a real Synapse (no mock of Matrix)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from tests.support import waiting
from tests.support.gateway import Api, make_settings, running

from .conftest import MATRIX_TOML, account_body
from .synapse import Synapse

Gateway = Callable[[], AbstractAsyncContextManager[Api]]


async def wait_for(probe: Any, what: str, attempts: int = 200) -> Any:
    """``tests.support.waiting.wait_for`` at the pace of a homeserver (0.1 s)."""
    return await waiting.wait_for(probe, what, attempts, delay=0.1)


def invite(synapse: Synapse, inviter: dict[str, Any], invitee: dict[str, Any]) -> str:
    """A new room ``inviter`` made, inviting ``invitee``."""
    return str(synapse.call("POST", "/_matrix/client/v3/createRoom",
                            {"invite": [invitee["user_id"]]},
                            token=inviter["access_token"])["room_id"])


async def wait_joined(synapse: Synapse, member: dict[str, Any], room: str,
                      joiner: dict[str, Any], what: str) -> None:
    async def joined() -> bool:
        members = synapse.call("GET", f"/_matrix/client/v3/rooms/{room}/joined_members",
                               token=member["access_token"])["joined"]
        return joiner["user_id"] in members
    await wait_for(joined, what)


async def wait_invited(api: Api, acc: str) -> list[dict[str, Any]]:
    async def invited() -> list[dict[str, Any]]:
        return await events(api, acc, "chat.invited")
    return list(await wait_for(invited, "chat.invited"))


async def events(api: Api, acc: str, type_: str) -> list[dict[str, Any]]:
    _, page = await api.get(f"/v1/events?account_id={acc}&type={type_}&limit=200")
    return list(page["data"])


async def login(api: Api, synapse: Synapse, user: dict[str, Any]) -> str:
    status, account = await api.post("/v1/accounts", account_body(synapse, user))
    assert status == 201, account
    status, body = await api.post(f"/v1/accounts/{account['id']}/auth/session/password",
                                  {"password": user["password"]})
    assert (status, body["status"]) == (200, "authorized"), body
    return str(account["id"])


async def online(api: Api, acc: str) -> None:
    assert (await api.post(f"/v1/accounts/{acc}/runtime/start"))[0] == 200

    async def running_() -> bool:
        return (await api.get(f"/v1/accounts/{acc}/runtime"))[1]["status"] == "running"
    await wait_for(running_, "running")


async def texts(api: Api, acc: str, type_: str, count: int) -> list[str]:
    async def probe() -> list[str] | None:
        got = [e["data"]["message"]["text"] for e in reversed(await events(api, acc, type_))]
        return got if len(got) >= count else None
    return list(await wait_for(probe, f"{count} {type_}"))


async def test_password_login_identity_and_wrong_password(api: Api, synapse: Synapse) -> None:
    user = synapse.new_user()
    status, account = await api.post("/v1/accounts", account_body(synapse, user))
    acc = account["id"]
    path = f"/v1/accounts/{acc}/auth/session/password"
    status, body = await api.post(path, {"password": "wrong"})
    assert (status, body["error"]["code"], body["error"]["status"]) == (
        400, "invalid_password", "failed")
    status, body = await api.post(path, {"password": user["password"]})
    assert (status, body["status"]) == (200, "authorized"), body
    assert body["account"]["identity"]["id"] == user["user_id"]
    assert user["password"] not in str(body) and user["password"] not in str(
        await events(api, acc, "account.authorized"))


async def test_localpart_login_and_token_import(api: Api, synapse: Synapse) -> None:
    user = synapse.new_user()
    body = account_body(synapse, user)
    body["provider_data"]["user"] = user["localpart"]
    _, account = await api.post("/v1/accounts", body)
    status, out = await api.post(f"/v1/accounts/{account['id']}/auth/session/password",
                                 {"password": user["password"]})
    assert (status, out["account"]["identity"]["id"]) == (200, user["user_id"])
    _, account = await api.post("/v1/accounts", account_body(synapse, user, "token"))
    step = f"/v1/accounts/{account['id']}/auth/session/import"
    status, out = await api.post(step, {"params": {"access_token": "syt_bad"}})
    assert (status, out["error"]["code"]) == (400, "invalid_session"), out
    status, out = await api.post(step, {"params": {"access_token": user["access_token"]}})
    assert (status, out["account"]["identity"]["id"]) == (200, user["user_id"])
    assert user["access_token"] not in str(out)


async def test_a_loopback_homeserver_needs_the_allow_list(tmp_path: Path,
                                                          synapse: Synapse) -> None:
    toml = MATRIX_TOML.replace('outbound_allow_cidrs = ["127.0.0.1/32"]', "")
    async with running(make_settings(tmp_path / "data", toml)) as api:
        user = synapse.new_user()
        _, account = await api.post("/v1/accounts", account_body(synapse, user))
        status, body = await api.post(f"/v1/accounts/{account['id']}/auth/session/password",
                                      {"password": user["password"]})
        assert (status, body["error"]["code"]) == (400, "url_not_allowed"), body


async def test_messages_kinds_replies_own_and_encrypted(api: Api, synapse: Synapse) -> None:
    me, friend = synapse.new_user(), synapse.new_user("friend")
    acc = await login(api, synapse, me)
    room = synapse.direct_room(friend, me)
    await online(api, acc)
    first = synapse.say(friend, room, "hello")
    synapse.say(friend, room, "a reply", **{"m.relates_to": {"m.in_reply_to": {"event_id": first}}})
    synapse.say(friend, room, "photo.png", msgtype="m.image", url="mxc://x/y",
                info={"mimetype": "image/png", "size": 1234})
    synapse.call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/t1",
                 {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "opaque"},
                 token=friend["access_token"])
    synapse.say(me, room, "from my phone")  # the account itself, from another device
    got = await texts(api, acc, "message.received", 4)
    assert got == ["hello", "a reply", "", ""]
    received = [e["data"]["message"] for e in reversed(await events(api, acc,
                                                                    "message.received"))]
    assert received[0]["chat"] == {"id": room, "type": "room", "title": None}
    assert received[0]["sender"]["id"] == friend["user_id"]
    assert received[1]["reply_to_id"] == first
    assert received[2]["media"] == {"type": "photo", "mime_type": "image/png", "size": 1234,
                                    "file_name": "photo.png", "download_url": (
                                        f"/v1/accounts/{acc}/chats/{room}/messages/"
                                        f"{received[2]['id']}/attachments/0")}
    assert received[2]["attachments"] == [received[2]["media"]]
    assert received[3]["media"] == {"type": "encrypted"} and received[3]["text"] == ""
    assert await texts(api, acc, "message.sent", 1) == ["from my phone"]
    status, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                  {"chat_id": room, "text": "answer", "reply_to_id": first})
    assert status == 201, sent
    assert any(e["event_id"] == sent["id"] for e in synapse.messages(friend, room))
    await asyncio.sleep(1.5)  # a sync or two later: our own send is not reported twice
    assert await texts(api, acc, "message.sent", 2) == ["from my phone", "answer"]


async def test_restart_resumes_where_it_stopped(gateway: Gateway, synapse: Synapse) -> None:
    me, friend = synapse.new_user(), synapse.new_user("friend")
    async with gateway() as api:
        acc = await login(api, synapse, me)
        room = synapse.direct_room(friend, me)
        synapse.say(friend, room, "before start")  # after login: delivered at start
        await online(api, acc)
        assert await texts(api, acc, "message.received", 1) == ["before start"]
    synapse.say(friend, room, "while down")
    async with gateway() as api:
        got = await texts(api, acc, "message.received", 2)
        await asyncio.sleep(1.5)
        assert await texts(api, acc, "message.received", 2) == got == ["before start",
                                                                      "while down"]


async def test_invites_are_events_and_auto_join(tmp_path: Path, synapse: Synapse) -> None:
    toml = MATRIX_TOML + "auto_join_invites = true\n"
    async with running(make_settings(tmp_path / "data", toml)) as api:
        me, friend = synapse.new_user(), synapse.new_user("friend")
        acc = await login(api, synapse, me)
        await online(api, acc)
        room = invite(synapse, friend, me)
        [event] = await wait_invited(api, acc)
        assert event["data"]["chat"]["id"] == room
        assert event["data"]["inviter"] == friend["user_id"]
        await wait_joined(synapse, friend, room, me, "auto-join")


async def test_revoked_token_logs_out(api: Api, synapse: Synapse) -> None:
    me = synapse.new_user()
    acc = await login(api, synapse, me)
    await online(api, acc)
    synapse.logout_all(me)

    async def logged_out() -> bool:
        return (await api.get(f"/v1/accounts/{acc}"))[1]["status"] == "logged_out"
    await wait_for(logged_out, "logged_out")
    assert await events(api, acc, "account.logged_out")


async def test_a_homeserver_that_goes_away_is_reconnected(tmp_path: Path) -> None:
    own = Synapse(tmp_path / "own-synapse")
    own.start()
    try:
        async with running(make_settings(tmp_path / "data", MATRIX_TOML)) as api:
            me = own.new_user()
            acc = await login(api, own, me)
            await online(api, acc)
            own.stop()

            def status(wanted: str) -> Callable[[], Awaitable[bool]]:
                async def probe() -> bool:
                    return (await api.get(f"/v1/accounts/{acc}/runtime"))[1]["status"] == wanted
                return probe
            await wait_for(status("reconnecting"), "reconnecting")
            own.start()
            await wait_for(status("running"), "running again", attempts=900)
    finally:
        own.stop()


async def test_auto_join_takes_invites_from_before_it_was_on(tmp_path: Path,
                                                             synapse: Synapse) -> None:
    me, friend = synapse.new_user(), synapse.new_user("friend")
    async with running(make_settings(tmp_path / "data", MATRIX_TOML)) as api:
        acc = await login(api, synapse, me)
        await online(api, acc)
        room = invite(synapse, friend, me)
        await wait_invited(api, acc)
    toml = MATRIX_TOML + "auto_join_invites = true\n"
    async with running(make_settings(tmp_path / "data", toml)):
        await wait_joined(synapse, friend, room, me, "the earlier invite joined after the restart")
