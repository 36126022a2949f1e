"""A logged-in client at work: pushed messages, getDifference, sending, revoked keys."""

from __future__ import annotations

import asyncio

import pytest

from .adapters import TIMEOUT, error_name
from .conftest import login


async def _collect(client, count: int) -> tuple[list[str], asyncio.Event]:
    seen: list[str] = []
    done = asyncio.Event()

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) >= count:
            done.set()

    client.on_message(on_text)
    return seen, done


async def test_pushed_message_reaches_handler(sb, make_client):
    me = await sb.control.create_user("+15550200", "Me")
    friend = await sb.control.create_user("+15550201", "Friend", username="friend")
    client = make_client()
    await login(sb, client, "+15550200")
    await client.start_updates()
    seen, done = await _collect(client, 2)
    await asyncio.sleep(0.2)
    await sb.control.push_message(me["id"], friend["id"], "hello there")
    await sb.control.push_message(me["id"], friend["id"], "in a group", chat="Friends")
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert seen == ["hello there", "in a group"]


async def test_offline_messages_arrive_through_get_difference(sb, make_client, lib, tmp_path):
    me = await sb.control.create_user("+15550210", "Me")
    friend = await sb.control.create_user("+15550211", "Friend")
    if lib == "telethon":
        session = str(tmp_path / "me.session")
        first = make_client(session, catch_up=True)
        await login(sb, first, "+15550210")
        await first.disconnect()
    else:
        first = make_client(name="me", workdir=str(tmp_path), skip_updates=False)
        await login(sb, first, "+15550210")
        await first.disconnect()
        # start() stores the update state, as a real deployment would have it.
        again = make_client(name="me", workdir=str(tmp_path), skip_updates=False)
        await asyncio.wait_for(again.client.start(), TIMEOUT)
        await asyncio.wait_for(again.client.stop(), TIMEOUT)
    for i in range(3):
        await sb.control.push_message(me["id"], friend["id"], f"offline {i}")
    if lib == "telethon":
        second = make_client(session, catch_up=True)
        seen, done = await _collect(second, 3)
        await second.connect()
    else:
        second = make_client(name="me", workdir=str(tmp_path), skip_updates=False)
        seen, done = await _collect(second, 3)
        await asyncio.wait_for(second.client.start(), TIMEOUT)
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert sorted(seen) == ["offline 0", "offline 1", "offline 2"]
    assert any(r["method"] == "updates.getDifference" for r in await sb.control.requests())


async def test_sent_message_visible_in_control_api(sb, make_client):
    me = await sb.control.create_user("+15550220", "Me")
    friend = await sb.control.create_user("+15550221", "Friend", username="pal")
    client = make_client()
    await login(sb, client, "+15550220")
    msg_id = await client.send_message("pal", "sent by the client")
    mine = await sb.control.messages(me["id"])
    theirs = await sb.control.messages(friend["id"])
    assert any(m["id"] == msg_id and m["out"] and m["text"] == "sent by the client" for m in mine)
    assert any(
        not m["out"] and m["from_user_id"] == me["id"] and m["text"] == "sent by the client"
        for m in theirs
    )


async def test_message_between_two_connected_clients(sb, make_client, lib):
    await sb.control.create_user("+15550230", "A", username="alice_a")
    await sb.control.create_user("+15550231", "B", username="bob_b")
    sender = make_client()
    await login(sb, sender, "+15550230")
    other_lib = "kurigram" if lib == "telethon" else "telethon"
    receiver = make_client(library=other_lib)
    await login(sb, receiver, "+15550231")
    await receiver.start_updates()
    seen, done = await _collect(receiver, 1)
    await asyncio.sleep(0.2)
    await sender.send_message("bob_b", "cross-library hello")
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert seen == ["cross-library hello"]


async def test_revoked_key_raises_session_revoked(sb, make_client):
    me = await sb.control.create_user("+15550240", "Me")
    client = make_client()
    await login(sb, client, "+15550240")
    assert await sb.control.revoke_sessions(me["id"]) == 1
    with pytest.raises(Exception) as info:
        await client.me_id()
    assert error_name(info.value) == "SESSION_REVOKED"
    assert type(info.value).__name__ in {"SessionRevokedError", "SessionRevoked"}


async def test_logged_out_key_is_unregistered(sb, make_client, lib):
    await sb.control.create_user("+15550241", "Me")
    client = make_client()
    await login(sb, client, "+15550241")
    if lib == "telethon":
        from telethon.tl import functions

        await client.client(functions.auth.LogOutRequest())
    else:
        from pyrogram import raw

        await client.client.invoke(raw.functions.auth.LogOut())
    with pytest.raises(Exception) as info:
        await client.me_id()
    assert error_name(info.value) == "AUTH_KEY_UNREGISTERED"


async def test_forgotten_key_gives_transport_404(sb, make_client, lib):
    me = await sb.control.create_user("+15550250", "Me")
    client = make_client()
    await login(sb, client, "+15550250")
    session = await client.session_string()
    await client.disconnect()
    assert await sb.control.forget_keys(me["id"]) == 1
    if lib == "telethon":
        from telethon.errors import AuthKeyNotFound

        again = make_client(session)
        with pytest.raises(AuthKeyNotFound):
            await again.connect()
    else:
        from pyrogram.session import session as kurigram_session

        seen: list[BaseException] = []
        original = kurigram_session.Session.recv_worker

        async def observed(self):  # records what Kurigram's receive task dies of
            try:
                await original(self)
            except BaseException as exc:
                seen.append(exc)
                raise

        kurigram_session.Session.recv_worker = observed
        try:
            again = make_client(session)
            # Kurigram does not surface -404 to the pending call, which then never gets an
            # answer: every call on such a client must be bounded by a timeout.
            with pytest.raises((asyncio.TimeoutError, TimeoutError)):
                await asyncio.wait_for(_connect_and_get_me(again), 4)
        finally:
            kurigram_session.Session.recv_worker = original
        assert any(isinstance(e, kurigram_session.AuthKeyNotFound) for e in seen)
    log = await sb.control.requests()
    assert any(r["method"] == "transport_error" and r["error"] == "-404" for r in log)


async def _connect_and_get_me(client) -> None:
    await client.client.connect()
    await client.client.get_me()


async def test_unimplemented_method_gets_clear_error(sb, make_client):
    await sb.control.create_user("+15550260", "Me")
    client = make_client()
    await login(sb, client, "+15550260")
    with pytest.raises(Exception) as info:
        await client.call_unimplemented()
    assert error_name(info.value) == "METHOD_NOT_IMPLEMENTED_IN_SANDBOX"
    log = await sb.control.requests()
    assert any(
        r["method"] == "account.getAuthorizations"
        and r["error"] == "METHOD_NOT_IMPLEMENTED_IN_SANDBOX"
        for r in log
    )


async def test_idle_client_requests_are_all_answered(sb, make_client, lib):
    await sb.control.create_user("+15550270", "Me")
    first = make_client()
    await login(sb, first, "+15550270")
    session = await first.session_string()
    await first.disconnect()
    before = len(await sb.control.requests())
    client = make_client(session)
    if lib == "telethon":
        await client.connect()
        await client.client.get_me()
    else:
        await asyncio.wait_for(client.client.start(), TIMEOUT)
    await asyncio.sleep(1.0)
    log = (await sb.control.requests())[before:]
    assert log, "the client made requests"
    assert [r for r in log if r.get("error")] == []


async def test_reply_history_and_dialogs(sb, make_client, lib):
    me = await sb.control.create_user("+15550280", "Me")
    friend = await sb.control.create_user("+15550281", "Friend", username="friendly")
    client = make_client()
    await login(sb, client, "+15550280")
    first = await sb.control.push_message(me["id"], friend["id"], "question?")
    if lib == "telethon":
        await client.client.get_dialogs()  # also caches the friend's entity
        sent = await client.client.send_message(friend["id"], "answer!", reply_to=first["id"])
        history = await client.client.get_messages(friend["id"], limit=10)
        texts = [m.message for m in history]
    else:
        dialogs = [d async for d in client.client.get_dialogs()]
        assert [d.chat.id for d in dialogs] == [friend["id"]]
        sent = await client.client.send_message(
            friend["id"], "answer!", reply_parameters=_kurigram_reply(first["id"])
        )
        texts = [m.text async for m in client.client.get_chat_history(friend["id"], limit=10)]
    assert texts == ["answer!", "question?"]
    theirs = await sb.control.messages(friend["id"])
    question_there = next(m for m in theirs if m["text"] == "question?")
    answer_there = next(m for m in theirs if m["text"] == "answer!")
    assert answer_there["reply_to_id"] == question_there["id"]
    assert sent.id > first["id"]


def _kurigram_reply(message_id: int):
    from pyrogram import types

    return types.ReplyParameters(message_id=message_id)


async def test_outgoing_message_reaches_senders_other_client(sb, make_client, lib):
    await sb.control.create_user("+15550290", "Me")
    await sb.control.create_user("+15550291", "Friend", username="friend_two")
    writer = make_client()
    await login(sb, writer, "+15550290")
    watcher = make_client(await writer.session_string())  # a second client on the same key
    await watcher.connect()
    await watcher.start_updates()
    seen: list[str] = []
    done = asyncio.Event()
    if lib == "telethon":
        from telethon import events

        async def on_out(event):
            seen.append(event.raw_text)
            done.set()

        watcher.client.add_event_handler(on_out, events.NewMessage(outgoing=True))
    else:
        from pyrogram import filters, handlers

        async def on_out(_client, message):
            seen.append(message.text)
            done.set()

        watcher.client.add_handler(handlers.MessageHandler(on_out, filters.outgoing))
    await asyncio.sleep(0.3)
    await writer.send_message("friend_two", "from the other device")
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert seen == ["from the other device"]


@pytest.mark.parametrize(
    ("error", "telethon_error", "kurigram_error"),
    [
        ("AUTH_KEY_DUPLICATED", "AuthKeyDuplicatedError", "AuthKeyDuplicated"),
        ("SESSION_REVOKED", "SessionRevokedError", "SessionRevoked"),
        ("FLOOD_WAIT_30", "FloodWaitError", "FloodWait"),
    ],
)
async def test_errors_injected_into_running_client(
    sb, make_client, lib, error, telethon_error, kurigram_error
):
    await sb.control.create_user("+15550295", "Me")
    client = make_client()
    await login(sb, client, "+15550295")
    for method in ("users.getUsers", "users.getFullUser"):  # get-me in either library
        await sb.control.inject_fault(method, error, times=1)
    with pytest.raises(Exception) as info:
        await client.me_id()
    expected = telethon_error if lib == "telethon" else kurigram_error
    assert type(info.value).__name__ == expected


async def test_duplicate_random_id_is_refused(sb, make_client, lib):
    me = await sb.control.create_user("+15550296", "Me")
    friend = await sb.control.create_user("+15550297", "Friend")
    # Telethon sleeps 2 s after each failed attempt at a server error: make only one.
    client = make_client(request_retries=0) if lib == "telethon" else make_client()
    await login(sb, client, "+15550296")
    if lib == "telethon":
        from telethon.tl import functions, types

        peer = types.InputPeerUser(friend["id"], 0)

        def send():
            request = functions.messages.SendMessageRequest(peer, "once", random_id=77)
            return client.client(request)
    else:
        from pyrogram import raw

        peer = raw.types.InputPeerUser(user_id=friend["id"], access_hash=0)

        def send():
            return client.client.invoke(
                raw.functions.messages.SendMessage(peer=peer, message="once", random_id=77)
            )

    await send()
    with pytest.raises(Exception) as info:
        await send()
    if lib == "telethon":  # Telethon files RANDOM_ID_DUPLICATE under server errors: it retries
        assert "unsuccessful" in str(info.value)
    else:
        assert error_name(info.value) == "RANDOM_ID_DUPLICATE"
    log = await sb.control.requests(method="messages.sendMessage")
    assert [r.get("error") for r in log][:2] == [None, "RANDOM_ID_DUPLICATE"]
    assert [m["text"] for m in await sb.control.messages(me["id"])] == ["once"]
