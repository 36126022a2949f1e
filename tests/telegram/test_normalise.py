"""The normalised message shape for what the sandbox cannot push yet (channels, replies,
media), built from each library's real TL classes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from unifyport_telegram.normalise import marked_id, normalise, unmark


def _types(lib: str) -> Any:
    if lib == "telethon":
        from telethon.tl import types
        return types
    from pyrogram.raw import types as ptypes
    return ptypes


@pytest.fixture(params=["telethon", "pyrogram"])
def t(request: pytest.FixtureRequest) -> Any:
    return _types(request.param)


def _doc(t: Any, *attributes: Any) -> Any:
    return t.MessageMediaDocument(document=t.Document(
        id=1, access_hash=2, file_reference=b"", date=0, mime_type="audio/ogg", size=1234,
        dc_id=2, attributes=list(attributes)))


def test_channel_post_with_photo(t: Any) -> None:
    channel = t.Channel(id=777, title="News", photo=t.ChatPhotoEmpty(), date=0,
                        broadcast=True, username="news")
    msg = t.Message(id=5, peer_id=t.PeerChannel(channel_id=777), date=1_700_000_000,
                    message="headline", media=t.MessageMediaPhoto())
    out = normalise(msg, {}, {777: channel}, self_id=1)
    assert out is not None
    assert out["chat"] == {"id": "-1000000000777", "type": "channel", "title": "News"}
    assert out["sender"] == {"id": "-1000000000777", "display_name": "News",
                             "username": "news"}
    assert out["media"] == {"type": "photo"}
    assert out["date"] == "2023-11-14T22:13:20Z"


def test_reply_with_voice_note(t: Any) -> None:
    user = t.User(id=42, first_name="Ann", username="ann")
    msg = t.Message(id=9, peer_id=t.PeerUser(user_id=42),
                    date=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                    message="", reply_to=t.MessageReplyHeader(reply_to_msg_id=8),
                    media=_doc(t, t.DocumentAttributeAudio(duration=3, voice=True)))
    out = normalise(msg, {42: user}, {}, self_id=1)
    assert out is not None
    assert out["reply_to_id"] == "8"
    assert out["sender"] == {"id": "42", "display_name": "Ann", "username": "ann"}
    assert out["media"] == {"type": "voice", "mime_type": "audio/ogg", "size": 1234}
    assert out["date"] == "2024-01-02T00:00:00Z"


def test_document_with_file_name_and_megagroup(t: Any) -> None:
    group = t.Channel(id=55, title="Devs", photo=t.ChatPhotoEmpty(), date=0, megagroup=True)
    msg = t.Message(id=3, peer_id=t.PeerChannel(channel_id=55), date=0, message="spec",
                    from_id=t.PeerUser(user_id=42),
                    media=_doc(t, t.DocumentAttributeFilename(file_name="spec.pdf")))
    out = normalise(msg, {}, {55: group}, self_id=1)
    assert out is not None
    assert out["chat"]["type"] == "group"
    assert out["media"]["type"] == "document" and out["media"]["file_name"] == "spec.pdf"
    assert out["sender"]["id"] == "42"


def test_service_messages_are_skipped(t: Any) -> None:
    msg = t.MessageService(id=1, peer_id=t.PeerUser(user_id=1), date=0,
                           action=t.MessageActionChatCreate(title="x", users=[]))
    assert normalise(msg, {}, {}, self_id=1) is None


def test_marked_ids_round_trip() -> None:
    for chat_id in (42, -7, -1000000000777):
        kind, raw = unmark(chat_id)
        assert raw > 0
        peer = {"user": _types("telethon").PeerUser(raw), "chat": _types("telethon").PeerChat(raw),
                "channel": _types("telethon").PeerChannel(raw)}[kind]
        assert marked_id(peer) == chat_id
