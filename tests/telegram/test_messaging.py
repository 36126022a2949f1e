"""Chats, history, files, edits, deletions, reactions and read state on both backends, against
the sandbox with a real Telethon client as the other side. The provider's operations run on
the client the gateway's own runtime attached; events are read from the events API."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

from tests.support.gateway import Api
from tests.support.waiting import wait_for
from unifyport.sdk import OutgoingAttachment, OutgoingMessage, SendContext
from unifyport_telegram.sandbox.testing import RunningSandbox

from .helpers import authorized, events, online, received
from .peer import peer


def ops(api: Api, acc: str) -> tuple[Any, SendContext]:
    """The Telegram provider and the context the core gives its messaging methods."""
    gw = api.gateway
    client = gw.runtime.clients[acc]  # type: ignore[union-attr]
    return gw.registry.provider("telegram"), SendContext(acc, {}, client, gw.outbound)


def png(path: Path, side: int = 48) -> Path:
    """A small real PNG with random pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    rows = b"".join(b"\x00" + os.urandom(3 * side) for _ in range(side))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


async def fetch(provider: Any, ctx: SendContext, chat: str, msg: str) -> bytes:
    stream = await provider.download(ctx, chat, msg, 0)
    return b"".join([c async for c in stream.chunks])


async def event(api: Api, acc: str, type_: str, count: int = 1) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        got = await events(api, acc, type_)
        return got if len(got) >= count else None
    return list(await wait_for(probe, f"{count} {type_} event(s)", attempts=400))


async def test_chats_and_history_in_pages(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550007001")
    friend = await sb.control.create_user("+15550007002", "Fay")
    await sb.control.push_messages([
        {"to_user_id": me["id"], "from_user_id": friend["id"], "text": f"m{i}"}
        for i in range(205)])
    await sb.control.push_message(me["id"], friend["id"], "hi all", chat="Team")
    await online(api, acc)
    provider, ctx = ops(api, acc)

    first = await provider.list_chats(ctx, 1, None)
    assert [c.title for c in first.items] == ["Team"] and first.next_cursor
    second = await provider.list_chats(ctx, 1, first.next_cursor)
    [fay] = second.items
    assert (fay.id, fay.type, fay.unread_count) == (str(friend["id"]), "private", 205)
    assert fay.last_message is not None and fay.last_message.text == "m204"
    assert (await provider.list_chats(ctx, 10, None)).next_cursor is None

    texts, cursor, pages = [], None, 0
    while True:
        page = await provider.history(ctx, str(friend["id"]), 50, cursor)
        texts += [m.text for m in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert texts == [f"m{i}" for i in reversed(range(205))]
    assert pages == 5


async def test_files_both_ways(api: Api, sb: RunningSandbox, tmp_path: Path) -> None:
    acc, me = await authorized(api, sb, "+15550007011")
    fay = await peer(sb, "+15550007012", "Fay")
    try:
        await online(api, acc)
        provider, ctx = ops(api, acc)
        image = png(tmp_path / "pic.png")
        doc = tmp_path / "report.bin"
        doc.write_bytes(os.urandom(10 * 1024 * 1024 + 5000))  # big-file parts
        sent = await provider.send(ctx, OutgoingMessage(
            chat_id=str(fay.id), text="look", attachments=[OutgoingAttachment(
                kind="image", file_name="pic.png", mime_type="image/png",
                size=image.stat().st_size, path=image)]))
        assert sent.attachments[0].type == "photo" and sent.text == "look"
        got = await fay.next("UpdateNewMessage")
        assert await fay.client.download_media(got.message, file=bytes) == image.read_bytes()
        assert await fetch(provider, ctx, str(fay.id), sent.id) == image.read_bytes()

        sent = await provider.send(ctx, OutgoingMessage(
            chat_id=str(fay.id), text="", attachments=[OutgoingAttachment(
                kind="file", file_name="report.bin", mime_type="application/octet-stream",
                size=doc.stat().st_size, path=doc)]))
        assert sent.attachments[0].file_name == "report.bin"
        got = await fay.next("UpdateNewMessage")
        assert got.message.media.document.size == doc.stat().st_size
        assert await fay.client.download_media(got.message, file=bytes) == doc.read_bytes()

        theirs = png(tmp_path / "theirs.png", 64)
        await fay.client.send_file(me["id"], str(theirs), caption="mine")
        [ev] = await received(api, acc)
        message = ev["data"]["message"]
        assert message["text"] == "mine"
        [att] = message["attachments"]
        assert att["type"] == "photo" and att["size"] == theirs.stat().st_size
        assert att["download_url"].endswith(f"/messages/{message['id']}/attachments/0")
        data = await fetch(provider, ctx, message["chat"]["id"], message["id"])
        assert data == theirs.read_bytes()
    finally:
        await fay.close()


async def test_edit_delete_react_read_both_ways(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550007021")
    fay = await peer(sb, "+15550007022", "Fay")
    try:
        await online(api, acc)
        provider, ctx = ops(api, acc)
        chat = str(fay.id)
        sent = await provider.send(ctx, OutgoingMessage(chat_id=chat, text="first"))
        await fay.next("UpdateNewMessage")
        edited = await provider.edit(ctx, chat, sent.id, "first, edited")
        assert edited.text == "first, edited" and edited.edited_at
        assert (await fay.next("UpdateEditMessage")).message.message == "first, edited"
        await provider.react(ctx, chat, sent.id, "👍")
        seen = await fay.next("UpdateMessageReactions")
        assert seen.reactions.results[0].reaction.emoticon == "👍"

        answer = await fay.client.send_message(me["id"], "answer")
        [ev] = await received(api, acc)
        mid = ev["data"]["message"]["id"]
        await provider.mark_read(ctx, chat, mid)
        assert (await fay.next("UpdateReadHistoryOutbox")).max_id == answer.id

        # the peer acts: each action arrives as its event
        from telethon.tl import functions, types

        await fay.client.edit_message(me["id"], answer.id, "answer, edited")
        [ed] = await event(api, acc, "message.edited")
        assert ed["data"]["message"]["text"] == "answer, edited"
        assert ed["data"]["message"]["id"] == mid
        await fay.client(functions.messages.SendReactionRequest(
            peer=me["id"], msg_id=answer.id, reaction=[types.ReactionEmoji("🔥")]))
        [re] = await event(api, acc, "message.reaction")
        assert (re["data"]["message_id"], re["data"]["emoji"]) == (mid, "🔥")
        assert re["data"]["sender"]["id"] == chat
        await fay.client.send_read_acknowledge(me["id"], max_id=answer.id)
        [rd] = await event(api, acc, "message.read")
        assert rd["data"]["chat_id"] == chat and rd["data"]["message_id"] == sent.id
        assert rd["data"]["reader"]["id"] == chat
        await fay.client.delete_messages(me["id"], [answer.id], revoke=True)
        [dl] = await event(api, acc, "message.deleted")
        assert dl["data"]["message_ids"] == [mid]

        await provider.delete(ctx, chat, sent.id)
        assert (await fay.next("UpdateDeleteMessages")).messages
        assert await sb.control.messages(fay.id) == []  # both deleted for everyone
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
