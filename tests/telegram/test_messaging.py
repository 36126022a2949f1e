"""Chats, history, files, edits, deletions, reactions and read state through the HTTP API on
both backends, against the sandbox with a real Telethon client as the other side."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support.gateway import Api
from tests.support.messaging import download, event_where, png, upload
from unifyport.sdk import SendContext
from unifyport.testing.messaging import serving
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import authorized, online, received
from .peer import peer

DOC = b"%PDF-1.4\n" + os.urandom(10 * 1024 * 1024 + 5000)  # past 10 MB: big-file parts


def ops(api: Api, acc: str) -> tuple[Any, SendContext]:
    """The Telegram provider and the context the core gives its messaging methods."""
    gw = api.gateway
    client = gw.runtime.clients[acc]  # type: ignore[attr-defined]
    return gw.registry.provider("telegram"), SendContext(acc, {}, client, gw.outbound)


async def test_chats_and_history_in_pages(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550007001")
    friend = await sb.control.create_user("+15550007002", "Fay")
    await sb.control.push_messages([
        {"to_user_id": me["id"], "from_user_id": friend["id"], "text": f"m{i}"}
        for i in range(205)])
    await sb.control.push_message(me["id"], friend["id"], "hi all", chat="Team")
    await online(api, acc)

    status, first = await api.get(f"/v1/accounts/{acc}/chats?limit=1")
    assert status == 200, first
    assert [c["title"] for c in first["data"]] == ["Team"] and first["next_cursor"]
    _, second = await api.get(f"/v1/accounts/{acc}/chats?limit=1&cursor={first['next_cursor']}")
    [fay] = second["data"]
    assert (fay["id"], fay["type"], fay["unread_count"]) == (str(friend["id"]), "private", 205)
    assert fay["last_message"]["text"] == "m204"
    _, everything = await api.get(f"/v1/accounts/{acc}/chats?limit=10")
    assert len(everything["data"]) == 2 and everything["next_cursor"] is None

    texts: list[str] = []
    cursor, pages = "", 0
    while pages < 10:
        status, page = await api.get(
            f"/v1/accounts/{acc}/chats/{friend['id']}/messages?limit=50{cursor}")
        assert status == 200, page
        texts += [m["text"] for m in page["data"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert texts == [f"m{i}" for i in reversed(range(205))]
    assert pages == 5
    status, body = await api.get(f"/v1/accounts/{acc}/chats/{friend['id']}/messages?cursor=x")
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


async def test_files_both_ways(api: Api, sb: RunningSandbox, tmp_path: Path) -> None:
    acc, me = await authorized(api, sb, "+15550007011")
    fay = await peer(sb, "+15550007012", "Fay")
    try:
        await online(api, acc)
        chat = str(fay.id)
        image = png()
        status, sent = await upload(api, acc, chat, image, "pic.png", "image/png", "look")
        assert status == 201, sent
        assert sent["attachments"][0]["type"] == "photo" and sent["text"] == "look"
        got = await fay.next("UpdateNewMessage")
        assert got.message.message == "look"
        assert await fay.client.download_media(got.message, file=bytes) == image
        status, mime, body = await download(api, sent["attachments"][0]["download_url"])
        assert (status, mime, body) == (200, "image/jpeg", image)

        async with serving(DOC, "application/pdf", "report.pdf") as url:
            status, doc = await api.post(f"/v1/accounts/{acc}/messages", {
                "chat_id": chat, "attachments": [{"url": url}]})
        assert status == 201, doc
        assert doc["attachments"][0]["file_name"] == "report.pdf"
        got = await fay.next("UpdateNewMessage")
        document = got.message.media.document
        assert (document.mime_type, document.size) == ("application/pdf", len(DOC))
        assert await fay.client.download_media(got.message, file=bytes) == DOC

        theirs = tmp_path / "theirs.png"
        theirs.write_bytes(png(64))
        await fay.client.send_file(me["id"], str(theirs), caption="mine")
        [ev] = await received(api, acc)
        message = ev["data"]["message"]
        assert message["text"] == "mine"
        [att] = message["attachments"]
        assert (att["type"], att["size"]) == ("photo", theirs.stat().st_size)
        status, _, body = await download(api, att["download_url"])
        assert (status, body) == (200, theirs.read_bytes())
        status, _, body = await download(api, att["download_url"][:-1] + "1")
        assert status == 404, body
    finally:
        await fay.close()


async def test_edit_delete_react_read_both_ways(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550007021")
    fay = await peer(sb, "+15550007022", "Fay")
    try:
        await online(api, acc)
        chat = str(fay.id)
        base = f"/v1/accounts/{acc}/chats/{chat}/messages"
        _, sent = await api.post(f"/v1/accounts/{acc}/messages", {"chat_id": chat,
                                                                  "text": "first"})
        await fay.next("UpdateNewMessage")
        status, edited = await api.call("PATCH", f"{base}/{sent['id']}",
                                        {"text": "first, edited"})
        assert status == 200 and edited["text"] == "first, edited" and edited["edited_at"]
        assert (await fay.next("UpdateEditMessage")).message.message == "first, edited"
        status, _ = await api.post(f"{base}/{sent['id']}/reactions", {"emoji": "👍"})
        assert status == 204
        seen = await fay.next("UpdateMessageReactions")
        assert seen.reactions.results[0].reaction.emoticon == "👍"
        status, _ = await api.call("DELETE", f"{base}/{sent['id']}/reactions", {"emoji": "👍"})
        assert status == 204
        assert not (await fay.next("UpdateMessageReactions")).reactions.results

        answer = await fay.client.send_message(me["id"], "answer")
        [ev] = await received(api, acc)
        mid = ev["data"]["message"]["id"]
        status, _ = await api.post(f"/v1/accounts/{acc}/chats/{chat}/read", {"message_id": mid})
        assert status == 204
        assert (await fay.next("UpdateReadHistoryOutbox")).max_id == answer.id

        # the peer acts: each action arrives as its event
        from telethon.tl import functions, types

        await fay.client.edit_message(me["id"], answer.id, "answer, edited")
        ed = await event_where(api, acc, "message.edited", lambda d: d["message"]["id"] == mid)
        assert ed["message"]["text"] == "answer, edited"
        await fay.client(functions.messages.SendReactionRequest(
            peer=me["id"], msg_id=answer.id, reaction=[types.ReactionEmoji("🔥")]))
        re = await event_where(api, acc, "message.reaction", lambda d: d["message_id"] == mid)
        assert re["emoji"] == "🔥" and re["sender"]["id"] == chat and not re["removed"]
        await fay.client.send_read_acknowledge(me["id"], max_id=answer.id)
        rd = await event_where(api, acc, "message.read", lambda d: d["reader"] is not None)
        assert (rd["chat_id"], rd["message_id"], rd["reader"]["id"]) == (chat, sent["id"], chat)
        await fay.client.delete_messages(me["id"], [answer.id], revoke=True)
        await event_where(api, acc, "message.deleted", lambda d: d["message_ids"] == [mid])

        status, _ = await api.delete(f"{base}/{sent['id']}")
        assert status == 204
        assert (await fay.next("UpdateDeleteMessages")).messages
        assert await sb.control.messages(fay.id) == []  # both deleted for everyone
        status, body = await api.call("PATCH", f"{base}/{sent['id']}", {"text": "gone"})
        assert (status, body["error"]["code"]) == (404, "message_not_found")
    finally:
        await fay.close()


async def test_bad_ids_and_cursors_are_client_errors(api: Api, sb: RunningSandbox) -> None:
    from unifyport.sdk import StepError

    acc, me = await authorized(api, sb, "+15550007031")
    friend = await sb.control.create_user("+15550007032", "Gus")
    pushed = await sb.control.push_message(me["id"], friend["id"], "text only")
    await online(api, acc)
    provider, ctx = ops(api, acc)
    chat = str(friend["id"])
    cases = [
        (provider.history(ctx, chat, 10, "not-a-cursor"), "invalid_cursor"),
        (provider.list_chats(ctx, 10, "1:2"), "invalid_cursor"),
        (provider.history(ctx, "abc", 10, None), "validation_failed"),
        (provider.edit(ctx, chat, "0", "x"), "validation_failed"),
        (provider.download(ctx, chat, str(pushed["id"]), 0), "attachment_not_found"),
        (provider.download(ctx, chat, "999", 0), "message_not_found"),
        (provider.edit(ctx, chat, str(pushed["id"]), "not mine"), "not_author"),
        (provider.react(ctx, chat, "999", "👍"), "message_not_found"),
    ]
    for call, code in cases:
        try:
            await call
        except StepError as err:
            assert err.code == code, (code, err.code)
            assert 400 <= err.http_status < 500
        else:
            raise AssertionError(f"expected {code}")


async def test_changes_made_while_offline_arrive_with_the_catch_up(
        api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550007041")
    fay = await peer(sb, "+15550007042", "Fay")
    try:
        await online(api, acc)
        answer = await fay.client.send_message(me["id"], "before")
        [ev] = await received(api, acc)
        mid = ev["data"]["message"]["id"]
        status, body = await api.post(f"/v1/accounts/{acc}/runtime/stop")
        assert status == 200, body
        await fay.client.edit_message(me["id"], answer.id, "while you were away")
        await fay.client.delete_messages(me["id"], [answer.id], revoke=True)
        await online(api, acc)
        ed = await event_where(api, acc, "message.edited", lambda d: d["message"]["id"] == mid)
        assert ed["message"]["text"] == "while you were away"
        await event_where(api, acc, "message.deleted", lambda d: d["message_ids"] == [mid])
    finally:
        await fay.close()
