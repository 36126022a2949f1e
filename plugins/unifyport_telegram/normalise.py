"""Turn raw TL messages into the contract's normalised message.

Telethon and Pyrogram generate their TL classes from the same schema, so class names and field
names agree; this module reads them by name and imports neither library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .backend import display_name

_CHANNEL_BASE = 1_000_000_000_000
#: TL media class -> the contract's media type (documents are told apart by attributes).
_MEDIA_TYPES = {"MessageMediaPhoto": "photo", "MessageMediaGeo": "location",
                "MessageMediaGeoLive": "location", "MessageMediaVenue": "venue",
                "MessageMediaContact": "contact", "MessageMediaPoll": "poll",
                "MessageMediaWebPage": "webpage", "MessageMediaDice": "dice",
                "MessageMediaGame": "game", "MessageMediaInvoice": "invoice",
                "MessageMediaStory": "story"}


def _kind(obj: Any) -> str:
    return type(obj).__name__


def marked_id(peer: Any) -> int:
    """Bot-API style chat id: users positive, basic groups negative, channels -100…"""
    kind = _kind(peer)
    if kind == "PeerUser":
        return int(peer.user_id)
    if kind == "PeerChat":
        return -int(peer.chat_id)
    if kind == "PeerChannel":
        return -(_CHANNEL_BASE + int(peer.channel_id))
    raise ValueError(f"not a peer: {kind}")


def unmark(chat_id: int) -> tuple[str, int]:
    """(``user``|``chat``|``channel``, raw id) for a marked chat id."""
    if chat_id > 0:
        return "user", chat_id
    if chat_id <= -_CHANNEL_BASE:
        return "channel", -chat_id - _CHANNEL_BASE
    return "chat", -chat_id


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        stamp = dt.datetime.fromtimestamp(int(value or 0), dt.UTC)
    return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _user_view(user: Any, uid: int) -> dict[str, Any]:
    if user is None:
        return {"id": str(uid), "display_name": None, "username": None}
    return {"id": str(uid),
            "display_name": display_name(getattr(user, "first_name", None),
                                         getattr(user, "last_name", None)),
            "username": getattr(user, "username", None)}


def _media(media: Any) -> dict[str, Any] | None:
    if media is None:
        return None
    kind = _kind(media)
    if kind == "MessageMediaEmpty":
        return None
    if kind != "MessageMediaDocument":
        return {"type": _MEDIA_TYPES.get(kind, "other")}
    doc = getattr(media, "document", None)
    out: dict[str, Any] = {"type": "document"}
    if doc is None or _kind(doc) == "DocumentEmpty":
        return out
    out["mime_type"] = getattr(doc, "mime_type", None)
    out["size"] = getattr(doc, "size", None)
    for attr in getattr(doc, "attributes", None) or []:
        name = _kind(attr)
        if name == "DocumentAttributeFilename":
            out["file_name"] = attr.file_name
        elif name == "DocumentAttributeSticker":
            out["type"] = "sticker"
        elif name == "DocumentAttributeAnimated" and out["type"] == "document":
            out["type"] = "animation"
        elif name == "DocumentAttributeVideo" and out["type"] == "document":
            out["type"] = "video_note" if getattr(attr, "round_message", False) else "video"
        elif name == "DocumentAttributeAudio" and out["type"] == "document":
            out["type"] = "voice" if getattr(attr, "voice", False) else "audio"
    return out


def normalise(message: Any, users: Mapping[int, Any], chats: Mapping[int, Any],
              self_id: int | None) -> dict[str, Any] | None:
    """The contract's message shape, or ``None`` for service and empty messages."""
    if _kind(message) != "Message":
        return None
    peer = message.peer_id
    chat_id = marked_id(peer)
    kind, raw_id = unmark(chat_id)
    chat_obj = chats.get(raw_id) if kind != "user" else None
    if kind == "user":
        chat = {"id": str(chat_id), "type": "private",
                "title": _user_view(users.get(raw_id), raw_id)["display_name"]}
    else:
        broadcast = kind == "channel" and bool(getattr(chat_obj, "broadcast", False))
        chat = {"id": str(chat_id), "type": "channel" if broadcast else "group",
                "title": getattr(chat_obj, "title", None)}
    from_id = getattr(message, "from_id", None)
    sender: dict[str, Any] | None
    if from_id is not None and _kind(from_id) == "PeerUser":
        sender = _user_view(users.get(from_id.user_id), int(from_id.user_id))
    elif from_id is not None:
        sender_chat = chats.get(unmark(marked_id(from_id))[1])
        sender = {"id": str(marked_id(from_id)),
                  "display_name": getattr(sender_chat, "title", None),
                  "username": getattr(sender_chat, "username", None)}
    elif kind == "user":
        uid = (self_id or 0) if getattr(message, "out", False) else raw_id
        sender = _user_view(users.get(uid), uid)
    else:
        sender = {"id": str(chat_id), "display_name": chat["title"],
                  "username": getattr(chat_obj, "username", None)}
    reply = getattr(message, "reply_to", None)
    reply_id = getattr(reply, "reply_to_msg_id", None) if reply is not None else None
    out: dict[str, Any] = {
        "id": str(message.id), "chat": chat, "sender": sender,
        "text": getattr(message, "message", "") or "", "date": _iso(message.date),
        "reply_to_id": None if reply_id is None else str(reply_id),
    }
    media = _media(getattr(message, "media", None))
    if media is not None:
        out["media"] = media
    return out
