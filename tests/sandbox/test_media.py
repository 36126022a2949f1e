"""Dialogs, history paging, uploads and downloads in parts, edits, deletions, reactions and
read receipts, driven by the real libraries' own high-level calls (each test runs with Telethon
and Kurigram as "me"; the peer is a real Telethon client)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tests.support.messaging import png as make_png

from .adapters import TIMEOUT
from .conftest import login

BIG = 10 * 1024 * 1024 + 300_000  # past 10 MB: big-file parts, several download chunks


async def _pair(sb, make_client, a: str, b: str) -> tuple[Any, Any, dict, dict]:
    me = await sb.control.create_user(f"+1555{a}", "Me", username=f"me{a}")
    friend = await sb.control.create_user(f"+1555{b}", "Friend", username=f"fr{b}")
    mine, peer = make_client(), make_client(library="telethon")
    await login(sb, mine, f"+1555{a}")
    await login(sb, peer, f"+1555{b}")
    await mine.start_updates()
    return mine, peer, me, friend


def _raw_updates(adapter: Any) -> list[Any]:
    """Every raw update the adapter's client receives from now on."""
    seen: list[Any] = []
    if adapter.name == "telethon":
        from telethon import events

        async def on_raw(update: Any) -> None:
            seen.append(update)

        adapter.client.add_event_handler(on_raw, events.Raw)
    else:
        from pyrogram import handlers

        async def on_kuri(_c: Any, update: Any, _u: Any, _ch: Any) -> None:
            seen.append(update)

        adapter.client.add_handler(handlers.RawUpdateHandler(on_kuri))
    return seen


async def _until(seen: list[Any], name: str) -> Any:
    async with asyncio.timeout(TIMEOUT):
        while True:
            for update in seen:
                if type(update).__name__ == name:
                    seen.remove(update)
                    return update
            await asyncio.sleep(0.05)


async def test_dialogs_and_history_in_pages(sb, make_client, lib):
    mine, _peer, me, friend = await _pair(sb, make_client, "0700", "0701")
    await sb.control.push_messages(
        [{"to_user_id": me["id"], "from_user_id": friend["id"], "text": f"m{i}"}
         for i in range(205)]
    )
    await sb.control.push_message(me["id"], friend["id"], "group hi", chat="Club")
    if lib == "telethon":
        from telethon.tl import functions, types

        await mine.client(functions.messages.ToggleDialogPinRequest(
            peer=types.InputDialogPeer(await mine.client.get_input_entity(friend["id"])),
            pinned=True))
        found = [(d.name, d.unread_count, d.pinned) for d in await mine.client.get_dialogs()]
        texts = [m.message async for m in mine.client.iter_messages(friend["id"], limit=None)]
    else:
        from pyrogram import raw

        peer = await mine.client.resolve_peer(friend["id"])
        await mine.client.invoke(raw.functions.messages.ToggleDialogPin(
            peer=raw.types.InputDialogPeer(peer=peer), pinned=True))
        found = [(d.chat.title or d.chat.first_name, d.unread_messages_count, d.is_pinned)
                 async for d in mine.client.get_dialogs()]
        texts = [m.text async for m in mine.client.get_chat_history(friend["id"])]
    # the pinned dialog first although the group's message is newer
    assert found == [("Friend", 205, True), ("Club", 1, False)]
    assert texts == [f"m{i}" for i in reversed(range(205))]
    pages = await sb.control.requests(method="messages.getHistory")
    assert len(pages) >= 3  # 205 messages take several pages in both libraries


async def test_files_up_and_down_in_parts(sb, make_client, lib, tmp_path):
    mine, peer, me, friend = await _pair(sb, make_client, "0710", "0711")
    got = _raw_updates(peer)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(BIG))
    if lib == "telethon":
        await mine.client.send_file(friend["id"], str(big), force_document=True,
                                    caption="a big one")
    else:
        await mine.client.send_document(friend["id"], str(big), caption="a big one")
    update = await _until(got, "UpdateNewMessage")
    assert update.message.message == "a big one"
    doc = update.message.media.document
    assert doc.size == BIG
    assert any(getattr(a, "file_name", None) == "big.bin" for a in doc.attributes)
    assert await peer.client.download_media(update.message, file=bytes) == big.read_bytes()
    big_parts = await sb.control.requests(method="upload.saveBigFilePart")
    assert len(big_parts) >= 20

    # the peer's photo, downloaded by me with my library
    png = tmp_path / "pic.png"
    png.write_bytes(make_png())
    mine_seen = _raw_updates(mine)
    await peer.client.send_file(me["id"], str(png))
    incoming = await _until(mine_seen, "UpdateNewMessage")
    assert type(incoming.message.media).__name__ == "MessageMediaPhoto"
    if lib == "telethon":
        data = await mine.client.download_media(incoming.message, file=bytes)
    else:
        msg = await mine.client.get_messages(friend["id"], incoming.message.id)
        data = bytes((await mine.client.download_media(msg, in_memory=True)).getbuffer())
    assert data == png.read_bytes()


async def test_edit_react_read_delete_reach_the_peer(sb, make_client, lib):
    mine, peer, me, friend = await _pair(sb, make_client, "0720", "0721")
    theirs = _raw_updates(peer)
    ours = _raw_updates(mine)
    c = mine.client
    if lib == "telethon":
        from telethon.tl import functions, types

        sent = await c.send_message(friend["id"], "first")
        await c.edit_message(friend["id"], sent.id, "first, edited")
        await c(functions.messages.SendReactionRequest(
            peer=friend["id"], msg_id=sent.id, reaction=[types.ReactionEmoji("👍")]))
    else:
        sent = await c.send_message(friend["id"], "first")
        await c.edit_message_text(friend["id"], sent.id, "first, edited")
        await c.send_reaction(friend["id"], sent.id, "👍")
    edit = await _until(theirs, "UpdateEditMessage")
    assert edit.message.message == "first, edited"
    reaction = await _until(theirs, "UpdateMessageReactions")
    assert reaction.reactions.results[0].reaction.emoticon == "👍"
    assert reaction.reactions.recent_reactions[0].peer_id.user_id == me["id"]

    # the peer answers, I read it: the peer sees its outbox read
    answer = await peer.client.send_message(me["id"], "answer")
    new = await _until(ours, "UpdateNewMessage")
    if lib == "telethon":
        await c.send_read_acknowledge(friend["id"], max_id=new.message.id)
    else:
        await c.read_chat_history(friend["id"], max_id=new.message.id)
    read = await _until(theirs, "UpdateReadHistoryOutbox")
    assert read.max_id == answer.id

    # the peer edits, reacts, reads and deletes: each arrives here
    await peer.client.edit_message(me["id"], answer.id, "answer, edited")
    assert (await _until(ours, "UpdateEditMessage")).message.message == "answer, edited"
    from telethon.tl import functions as tl_functions
    from telethon.tl import types as tl_types

    await peer.client(tl_functions.messages.SendReactionRequest(
        peer=me["id"], msg_id=answer.id, reaction=[tl_types.ReactionEmoji("🔥")]))
    mine_reaction = await _until(ours, "UpdateMessageReactions")
    assert mine_reaction.msg_id == new.message.id
    assert mine_reaction.reactions.results[0].reaction.emoticon == "🔥"
    await peer.client.send_read_acknowledge(me["id"], max_id=edit.message.id)
    assert (await _until(ours, "UpdateReadHistoryOutbox")).max_id == sent.id
    await peer.client.delete_messages(me["id"], [answer.id], revoke=True)
    gone = await _until(ours, "UpdateDeleteMessages")
    assert gone.messages == [new.message.id]

    if lib == "telethon":
        await c.delete_messages(friend["id"], [sent.id], revoke=True)
    else:
        await c.delete_messages(friend["id"], sent.id, revoke=True)
    assert (await _until(theirs, "UpdateDeleteMessages")).messages == [edit.message.id]
    history = await sb.control.messages(friend["id"])
    assert history == []
