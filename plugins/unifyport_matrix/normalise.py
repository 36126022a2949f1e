"""Matrix room events -> the unified message model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from unifyport.sdk import (
    Attachment,
    Chat,
    ChatSummary,
    Message,
    MessageDeleted,
    MessageEdited,
    MessageReaction,
    MessageRead,
    MessageUpdate,
    Sender,
)

_MEDIA = {"m.image": "photo", "m.video": "video", "m.audio": "audio", "m.file": "document",
          "m.sticker": "sticker", "m.location": "location"}


def iso_ms(ms: Any) -> str:
    stamp = dt.datetime.fromtimestamp(int(ms or 0) / 1000, dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


def sender(event: dict[str, Any]) -> Sender:
    user = str(event.get("sender", ""))
    return Sender(id=user, display_name=None, username=localpart(user))


def message(room_id: str, event: dict[str, Any]) -> Message | None:
    """The message of an ``m.room.message`` / ``m.room.encrypted`` event; ``None`` for what
    is not a message (a redacted event, an unknown type)."""
    content = event.get("content") or {}
    base: dict[str, Any] = {
        "chat": Chat(id=room_id, type="room", title=None),
        "sender": sender(event),
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
        name = content.get("filename")
        fields["media"] = Attachment(
            type=_MEDIA[msgtype], mime_type=info.get("mimetype"),
            size=info.get("size") if isinstance(info.get("size"), int) else None,
            file_name=str(name or content["body"]))
        fields["attachments"] = [fields["media"]]
        fields["text"] = content["body"] if isinstance(name, str) and name != content["body"] \
            else ""  # a caption: the body when a separate file name is given
    else:  # m.text, m.notice, m.emote and unknown text-like types
        fields["text"] = content["body"]
    return Message(id=str(event["event_id"]), **base, **fields)


def joined_rooms(data: dict[str, Any]) -> set[str]:
    """The rooms a sync reports the account is in."""
    return set((data.get("rooms") or {}).get("join") or {})


def invited_rooms(data: dict[str, Any]) -> set[str]:
    """The rooms a sync reports the account is invited to."""
    return set((data.get("rooms") or {}).get("invite") or {})


def history_message(room_id: str, event: dict[str, Any]) -> Message | None:
    """A message of ``/messages`` as it is now: edits folded into the original (the server
    bundles the latest), the edit events themselves left out."""
    relates = (event.get("content") or {}).get("m.relates_to") or {}
    if relates.get("rel_type") == "m.replace":
        return None
    msg = message(room_id, event)
    latest = (((event.get("unsigned") or {}).get("m.relations") or {}).get("m.replace"))
    if msg is not None and isinstance(latest, dict):
        new = message(room_id, latest)
        if new is not None:
            msg = msg.model_copy(update={"text": new.text, "edited_at": new.edited_at})
    return msg


def chat_summary(room_id: str, room: dict[str, Any]) -> ChatSummary:
    """A joined room of a full-state sync as a chat of the list."""
    title, created = None, 0
    for ev in (room.get("state") or {}).get("events") or []:
        if ev.get("type") == "m.room.name":
            title = (ev.get("content") or {}).get("name") or None
        if ev.get("type") == "m.room.create":
            created = int(ev.get("origin_server_ts") or 0)
    events = (room.get("timeline") or {}).get("events") or []
    last = message(room_id, events[-1]) if events else None
    stamp = int(events[-1].get("origin_server_ts") or 0) if events else created
    unread = (room.get("unread_notifications") or {}).get("notification_count")
    return ChatSummary(id=room_id, type="room", title=title, last_message=last,
                       unread_count=unread if isinstance(unread, int) else None,
                       last_activity_at=iso_ms(stamp))


@dataclass
class SyncBatch:
    """What one ``/sync`` brings: messages from others, this user's messages sent elsewhere,
    invites as (room, inviter), and updates (edits, deletions, reactions, receipts)."""

    received: list[Message] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)
    invites: list[tuple[str, str]] = field(default_factory=list)
    updates: list[MessageUpdate] = field(default_factory=list)


REACTIONS_KEPT = 10_000


def from_sync(data: dict[str, Any], own_id: str,
              reactions: dict[str, tuple[str, str, str]] | None = None) -> SyncBatch:
    """The batch of a sync. Events this device sent through the API carry
    ``unsigned.transaction_id`` and were already emitted by the API routes. ``reactions``
    (reaction event id -> (room, message id, emoji)) lets a redacted reaction be reported as
    a removed reaction; it is filled here and kept bounded."""
    out, seen = SyncBatch(), {} if reactions is None else reactions
    rooms = data.get("rooms") or {}
    for room_id, room in (rooms.get("join") or {}).items():
        for event in (room.get("timeline") or {}).get("events") or []:
            own = event.get("sender") == own_id
            if own and "transaction_id" in (event.get("unsigned") or {}):
                continue
            _timeline(out, room_id, event, own, seen)
        for event in (room.get("ephemeral") or {}).get("events") or []:
            if event.get("type") == "m.receipt":
                out.updates.extend(_receipts(room_id, event, own_id))
    while len(seen) > REACTIONS_KEPT:
        seen.pop(next(iter(seen)))
    for room_id, room in (rooms.get("invite") or {}).items():
        inviter = ""
        for event in (room.get("invite_state") or {}).get("events") or []:
            if event.get("type") == "m.room.member" and event.get("state_key") == own_id:
                inviter = str(event.get("sender", ""))
        out.invites.append((room_id, inviter))
    return out


def _timeline(out: SyncBatch, room_id: str, event: dict[str, Any], own: bool,
              seen: dict[str, tuple[str, str, str]]) -> None:
    content = event.get("content") or {}
    relates = content.get("m.relates_to") or {}
    kind = event.get("type")
    if kind == "m.reaction":
        if relates.get("rel_type") == "m.annotation" and isinstance(relates.get("key"), str):
            seen[str(event.get("event_id"))] = (room_id, str(relates["event_id"]),
                                                relates["key"])
            out.updates.append(MessageReaction(chat_id=room_id, sender=sender(event),
                                               message_id=str(relates["event_id"]),
                                               emoji=relates["key"]))
        return
    if kind == "m.room.redaction":
        target = str(event.get("redacts") or content.get("redacts") or "")
        if target in seen:
            room, message_id, emoji = seen.pop(target)
            out.updates.append(MessageReaction(chat_id=room, message_id=message_id,
                                               emoji=emoji, removed=True, sender=sender(event)))
        elif target:
            out.updates.append(MessageDeleted(chat_id=room_id, message_ids=[target],
                                              sender=sender(event)))
        return
    msg = message(room_id, event)
    if msg is None:
        return
    if msg.edited_at is not None:
        out.updates.append(MessageEdited(message=msg))
    else:
        (out.sent if own else out.received).append(msg)


def _receipts(room_id: str, event: dict[str, Any], own_id: str) -> list[MessageUpdate]:
    """``message.read`` for each other user's read receipt."""
    found: list[MessageUpdate] = []
    for event_id, kinds in (event.get("content") or {}).items():
        for user in ((kinds or {}).get("m.read") or {}):
            if user != own_id:
                found.append(MessageRead(chat_id=room_id, message_id=str(event_id),
                                         reader=sender({"sender": user})))
    return found
