"""Matrix room events -> the unified message model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from unifyport.sdk import Attachment, Chat, Message, Sender

_MEDIA = {"m.image": "photo", "m.video": "video", "m.audio": "audio", "m.file": "document",
          "m.sticker": "sticker", "m.location": "location"}


def iso_ms(ms: Any) -> str:
    stamp = dt.datetime.fromtimestamp(int(ms or 0) / 1000, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


def message(room_id: str, event: dict[str, Any]) -> Message | None:
    """The message of an ``m.room.message`` / ``m.room.encrypted`` event; ``None`` for what
    is not a message (a redacted event, an unknown type)."""
    content = event.get("content") or {}
    sender = str(event.get("sender", ""))
    base: dict[str, Any] = {
        "chat": Chat(id=room_id, type="room", title=None),
        "sender": Sender(id=sender, display_name=None, username=localpart(sender)),
        "date": iso_ms(event.get("origin_server_ts")),
    }
    if event.get("type") == "m.room.encrypted":
        # End-to-end encryption is not supported: report the message as what it is, no content.
        return Message(id=str(event["event_id"]), text="", reply_to_id=None,
                       media=Attachment(type="encrypted"), **base)
    msgtype = content.get("msgtype")
    if not isinstance(msgtype, str) or not isinstance(content.get("body"), str):
        return None
    relates = content.get("m.relates_to") or {}
    if relates.get("rel_type") == "m.replace" and isinstance(content.get("m.new_content"), dict):
        new = content["m.new_content"]
        return Message(id=str(relates.get("event_id")), text=str(new.get("body", "")),
                       edited_at=base["date"], reply_to_id=None, **base)
    reply = (relates.get("m.in_reply_to") or {}).get("event_id")
    fields: dict[str, Any] = {"reply_to_id": None if reply is None else str(reply)}
    if msgtype in _MEDIA:
        info = content.get("info") or {}
        fields["media"] = Attachment(
            type=_MEDIA[msgtype], mime_type=info.get("mimetype"),
            size=info.get("size") if isinstance(info.get("size"), int) else None,
            file_name=str(content.get("filename") or content["body"]))
        fields["text"] = ""
    else:  # m.text, m.notice, m.emote and unknown text-like types
        fields["text"] = content["body"]
    return Message(id=str(event["event_id"]), **base, **fields)


def joined_rooms(data: dict[str, Any]) -> set[str]:
    """The rooms a sync reports the account is in."""
    return set((data.get("rooms") or {}).get("join") or {})


def invited_rooms(data: dict[str, Any]) -> set[str]:
    """The rooms a sync reports the account is invited to."""
    return set((data.get("rooms") or {}).get("invite") or {})


def from_sync(data: dict[str, Any], own_id: str) -> tuple[list[Message], list[Message],
                                                            list[tuple[str, str]]]:
    """(received from others, sent by this user from elsewhere, invites as (room, inviter)).

    Messages this device sent through the API carry ``unsigned.transaction_id`` in its sync
    and were already emitted as ``message.sent`` by the send route."""
    received: list[Message] = []
    sent: list[Message] = []
    rooms = data.get("rooms") or {}
    for room_id, room in (rooms.get("join") or {}).items():
        for event in (room.get("timeline") or {}).get("events") or []:
            msg = message(room_id, event)
            if msg is None:
                continue
            if event.get("sender") != own_id:
                received.append(msg)
            elif "transaction_id" not in (event.get("unsigned") or {}):
                sent.append(msg)
    invites = []
    for room_id, room in (rooms.get("invite") or {}).items():
        inviter = ""
        for event in (room.get("invite_state") or {}).get("events") or []:
            if event.get("type") == "m.room.member" and event.get("state_key") == own_id:
                inviter = str(event.get("sender", ""))
        invites.append((room_id, inviter))
    return received, sent, invites
