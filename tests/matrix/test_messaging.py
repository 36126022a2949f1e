"""The messaging surface on Matrix against a real Synapse: chats, history in pages, files up
and down, edits, redactions, reactions and read receipts, both ways."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from tests.support.gateway import Api
from tests.support.messaging import download, event_where, upload
from unifyport.testing.messaging import serving

from .synapse import Synapse
from .test_matrix import events, login, online

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(300_000)
DOC = b"%PDF-1.4\n" + os.urandom(150_000)


@pytest.fixture
async def doc_server() -> AsyncIterator[str]:
    """A document on a loopback HTTP server (the URL attachment's source)."""
    async with serving(DOC, "application/pdf", "report.pdf") as url:
        yield url


async def test_chats_and_history_in_pages(api: Api, synapse: Synapse) -> None:
    me, friend = synapse.new_user(), synapse.new_user("friend")
    acc = await login(api, synapse, me)
    quiet = synapse.direct_room(friend, me)
    synapse.call("PUT", f"/_matrix/client/v3/rooms/{quiet}/state/m.room.name", {"name": "Quiet"},
                 token=friend["access_token"])
    synapse.say(friend, quiet, "old news")
    busy = synapse.direct_room(friend, me)
    texts = [f"message {i}" for i in range(200)]
    await asyncio.to_thread(lambda: [synapse.say(friend, busy, t) for t in texts])
    await online(api, acc)

    status, page = await api.get(f"/v1/accounts/{acc}/chats?limit=1")
    assert status == 200, page
    assert [c["id"] for c in page["data"]] == [busy] and page["next_cursor"]
    assert page["data"][0]["last_message"]["text"] == "message 199"
    assert page["data"][0]["unread_count"] >= 200  # Synapse may count the invite too
    _, rest = await api.get(f"/v1/accounts/{acc}/chats?limit=10&cursor={page['next_cursor']}")
    assert [(c["id"], c["title"]) for c in rest["data"]] == [(quiet, "Quiet")]
    assert rest["next_cursor"] is None

    seen: list[str] = []
    cursor, pages = "", 0
    while len(seen) < 200 and pages < 10:
        _, page = await api.get(f"/v1/accounts/{acc}/chats/{busy}/messages?limit=60{cursor}")
        seen += [m["text"] for m in page["data"]]
        cursor, pages = f"&cursor={page['next_cursor']}", pages + 1
    assert seen[:200] == texts[::-1]
    status, body = await api.get(f"/v1/accounts/{acc}/chats/{busy}/messages?cursor=nonsense")
    assert 400 <= status < 500 and body["error"]["code"], body
    status, body = await api.get(f"/v1/accounts/{acc}/chats?cursor=x")
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


async def test_files_both_ways(api: Api, synapse: Synapse, doc_server: str) -> None:
    me, friend = synapse.new_user(), synapse.new_user("friend")
    acc = await login(api, synapse, me)
    room = synapse.direct_room(friend, me)
    await online(api, acc)

    status, sent = await upload(api, acc, room, PNG, "cat.png", "image/png", "a cat")
    assert status == 201, sent
    assert sent["text"] == "a cat" and sent["attachments"][0]["mime_type"] == "image/png"
    status, doc = await api.post(f"/v1/accounts/{acc}/messages", {
        "chat_id": room, "attachments": [{"url": doc_server}]})
    assert status == 201, doc
    assert doc["attachments"][0]["file_name"] == "report.pdf"
    at_peer = {e["event_id"]: e["content"] for e in synapse.messages(friend, room)}
    image, pdf = at_peer[sent["id"]], at_peer[doc["id"]]
    assert (image["msgtype"], image["body"], image["filename"]) == ("m.image", "a cat", "cat.png")
    assert synapse.download(friend, image["url"]) == PNG
    assert (pdf["msgtype"], pdf["info"]["mimetype"]) == ("m.file", "application/pdf")
    assert synapse.download(friend, pdf["url"]) == DOC
    status, _, body = await download(api, sent["attachments"][0]["download_url"])
    assert status == 200 and body == PNG

    photo = os.urandom(200_000)
    mxc = synapse.upload(friend, photo, "image/jpeg")
    photo_id = synapse.send(friend, room, "m.room.message", {
        "msgtype": "m.image", "body": "beach.jpg", "url": mxc,
        "info": {"mimetype": "image/jpeg", "size": len(photo)}})
    got = await event_where(api, acc, "message.received", lambda d: d["message"]["id"] == photo_id)
    attachment = got["message"]["attachments"][0]
    assert attachment["type"] == "photo" and attachment["file_name"] == "beach.jpg"
    status, mime, body = await download(api, attachment["download_url"])
    assert (status, mime) == (200, "image/jpeg")
    assert hashlib.sha256(body).digest() == hashlib.sha256(photo).digest()
    status, _, body = await download(api, attachment["download_url"][:-1] + "1")
    assert status == 404, body

    status, body = await api.post(f"/v1/accounts/{acc}/messages", {
        "chat_id": room, "attachments": [{"url": "http://10.1.2.3/x.pdf"}]})
    assert (status, body["error"]["code"]) == (400, "url_not_allowed")


async def test_edit_delete_react_read_both_ways(api: Api, synapse: Synapse) -> None:
    me, friend = synapse.new_user(), synapse.new_user("friend")
    acc = await login(api, synapse, me)
    room = synapse.direct_room(friend, me)
    await online(api, acc)
    base = f"/v1/accounts/{acc}/chats/{room}/messages"
    _, mine = await api.post(f"/v1/accounts/{acc}/messages", {"chat_id": room, "text": "tpyo"})
    theirs = synapse.say(friend, room, "hello there")
    await event_where(api, acc, "message.received", lambda d: d["message"]["id"] == theirs)

    status, edited = await api.call("PATCH", f"{base}/{mine['id']}", {"text": "typo"})
    assert status == 200 and edited["text"] == "typo" and edited["edited_at"], edited
    status, _ = await api.post(f"{base}/{theirs}/reactions", {"emoji": "👍"})
    assert status == 204
    status, _ = await api.post(f"/v1/accounts/{acc}/chats/{room}/read", {"message_id": theirs})
    assert status == 204
    timeline = synapse.timeline(friend, room)
    assert any(e["content"].get("m.new_content", {}).get("body") == "typo" for e in timeline)
    assert any(e["type"] == "m.reaction" and e["content"]["m.relates_to"]["key"] == "👍"
               for e in timeline)
    assert me["user_id"] in synapse.receipts(friend, room).get(theirs, {}).get("m.read", {})
    status, _ = await api.call("DELETE", f"{base}/{theirs}/reactions", {"emoji": "👍"})
    assert status == 204
    status, _ = await api.delete(f"{base}/{mine['id']}")
    assert status == 204
    redacted = {e["event_id"]: e for e in synapse.timeline(friend, room)}[mine["id"]]
    assert redacted["content"] == {} and "redacted_because" in redacted["unsigned"]
    assert not [e for e in synapse.timeline(friend, room) if e["type"] == "m.reaction"
                and e["sender"] == me["user_id"] and e["content"].get("m.relates_to")]
    assert [d["message"]["text"] for d in (e["data"] for e in
                                           await events(api, acc, "message.edited"))] == ["typo"]
    assert (await events(api, acc, "message.deleted"))[0]["data"]["message_ids"] == [mine["id"]]

    synapse.send(friend, room, "m.room.message", {
        "msgtype": "m.text", "body": "* hello here", "m.new_content": {
            "msgtype": "m.text", "body": "hello here"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": theirs}})
    _, again = await api.post(f"/v1/accounts/{acc}/messages", {"chat_id": room, "text": "hi"})
    reaction = synapse.send(friend, room, "m.reaction", {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": again["id"], "key": "🎉"}})
    added = await event_where(api, acc, "message.reaction", lambda d: not d["removed"])
    assert (added["emoji"], added["message_id"]) == ("🎉", again["id"])
    assert added["sender"]["id"] == friend["user_id"]
    synapse.call("POST", f"/_matrix/client/v3/rooms/{room}/receipt/m.read/{theirs}", {},
                 token=friend["access_token"])
    synapse.call("PUT", f"/_matrix/client/v3/rooms/{room}/redact/{reaction}/t1", {},
                 token=friend["access_token"])
    synapse.call("PUT", f"/_matrix/client/v3/rooms/{room}/redact/{theirs}/t2", {},
                 token=friend["access_token"])
    removed = await event_where(api, acc, "message.reaction", lambda d: d["removed"])
    assert (removed["emoji"], removed["message_id"]) == ("🎉", again["id"])
    edit = await event_where(api, acc, "message.edited", lambda d: d["message"]["id"] == theirs)
    assert edit["message"]["text"] == "hello here"
    read = await event_where(api, acc, "message.read", lambda d: d["reader"] is not None)
    assert (read["message_id"], read["reader"]["id"]) == (theirs, friend["user_id"])
    gone = await event_where(api, acc, "message.deleted", lambda d: d["message_ids"] == [theirs])
    assert gone["chat_id"] == room and gone["sender"]["id"] == friend["user_id"]
