"""Turn raw TL messages into the contract's normalised message.

Telethon and Pyrogram generate their TL classes from the same schema, so class names and field
names agree; this module reads them by name and imports neither library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .backend import FileLocation, display_name

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


def marked_channel(channel_id: int) -> int:
    """The marked id of a channel (``-100…``)."""
    return -(_CHANNEL_BASE + int(channel_id))


def marked_id(peer: Any) -> int:
    """Bot-API style chat id: users positive, basic groups negative, channels -100…"""
    kind = _kind(peer)
    if kind == "PeerUser":
        return int(peer.user_id)
    if kind == "PeerChat":
        return -int(peer.chat_id)
    if kind == "PeerChannel":
        return marked_channel(peer.channel_id)
    raise ValueError(f"not a peer: {kind}")


def unmark(chat_id: int) -> tuple[str, int]:
    """(``user``|``chat``|``channel``, raw id) for a marked chat id."""
    if chat_id > 0:
        return "user", chat_id
    if chat_id <= -_CHANNEL_BASE:
        return "channel", -chat_id - _CHANNEL_BASE
    return "chat", -chat_id


def iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        stamp = dt.datetime.fromtimestamp(int(value or 0), dt.UTC)
    return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def user_view(user: Any, uid: int) -> dict[str, Any]:
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
    largest = _largest(getattr(media, "photo", None)) if kind == "MessageMediaPhoto" else None
    if largest is not None:  # Telegram stores photos as JPEG
        return {"type": "photo", "mime_type": "image/jpeg", "size": _size(largest)}
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


def _size(size: Any) -> int:
    """Bytes of a ``PhotoSize`` (``PhotoSizeProgressive``: the last of its ``sizes``)."""
    sizes = getattr(size, "sizes", None)
    return int(sizes[-1] if sizes else getattr(size, "size", 0) or 0)


def _largest(photo: Any) -> Any | None:
    """A photo's largest size with bytes to fetch (``None`` for an empty photo)."""
    sizes = [s for s in getattr(photo, "sizes", None) or []
             if _kind(s) in ("PhotoSize", "PhotoSizeProgressive")]
    return max(sizes, key=_size) if sizes else None


def file_location(message: Any) -> FileLocation | None:
    """Where the photo or document of a raw message is, ``None`` when it has no file."""
    media = getattr(message, "media", None)
    photo = getattr(media, "photo", None) if _kind(media) == "MessageMediaPhoto" else None
    if photo is not None and (size := _largest(photo)) is not None:
        return FileLocation("photo", photo.id, photo.access_hash, bytes(photo.file_reference),
                            photo.dc_id, _size(size), size.type)
    doc = getattr(media, "document", None) if _kind(media) == "MessageMediaDocument" else None
    if doc is not None and _kind(doc) == "Document":
        return FileLocation("document", doc.id, doc.access_hash, bytes(doc.file_reference),
                            doc.dc_id, int(doc.size))
    return None


def reactions(counts: Any) -> list[dict[str, Any]]:
    """``MessageReactions`` as the contract's reactions (emoji ones; custom emoji skipped)."""
    out = []
    for r in getattr(counts, "results", None) or []:
        emoji = getattr(r.reaction, "emoticon", None)
        if emoji:
            out.append({"emoji": emoji, "count": int(r.count),
                        "own": getattr(r, "chosen_order", None) is not None})
    return out


def chat_view(chat_id: int, users: Mapping[int, Any],
              chats: Mapping[int, Any]) -> dict[str, Any]:
    """The contract's chat (id, type, title) of a marked chat id."""
    kind, raw_id = unmark(chat_id)
    if kind == "user":
        return {"id": str(chat_id), "type": "private",
                "title": user_view(users.get(raw_id), raw_id)["display_name"]}
    chat_obj = chats.get(raw_id)
    broadcast = kind == "channel" and bool(getattr(chat_obj, "broadcast", False))
    return {"id": str(chat_id), "type": "channel" if broadcast else "group",
            "title": getattr(chat_obj, "title", None)}


def normalise(message: Any, users: Mapping[int, Any], chats: Mapping[int, Any],
              self_id: int | None) -> dict[str, Any] | None:
    """The contract's message shape, or ``None`` for service and empty messages."""
    if _kind(message) != "Message":
        return None
    chat_id = marked_id(message.peer_id)
    kind, raw_id = unmark(chat_id)
    chat_obj = chats.get(raw_id) if kind != "user" else None
    chat = chat_view(chat_id, users, chats)
    from_id = getattr(message, "from_id", None)
    sender: dict[str, Any] | None
    if from_id is not None and _kind(from_id) == "PeerUser":
        sender = user_view(users.get(from_id.user_id), int(from_id.user_id))
    elif from_id is not None:
        sender_chat = chats.get(unmark(marked_id(from_id))[1])
        sender = {"id": str(marked_id(from_id)),
                  "display_name": getattr(sender_chat, "title", None),
                  "username": getattr(sender_chat, "username", None)}
    elif kind == "user":
        uid = (self_id or 0) if getattr(message, "out", False) else raw_id
        sender = user_view(users.get(uid), uid)
    else:
        sender = {"id": str(chat_id), "display_name": chat["title"],
                  "username": getattr(chat_obj, "username", None)}
    reply = getattr(message, "reply_to", None)
    reply_id = getattr(reply, "reply_to_msg_id", None) if reply is not None else None
    out: dict[str, Any] = {
        "id": str(message.id), "chat": chat, "sender": sender,
        "text": getattr(message, "message", "") or "", "date": iso(message.date),
        "reply_to_id": None if reply_id is None else str(reply_id),
    }
    media = _media(getattr(message, "media", None))
    if media is not None:
        out["media"] = media
        if file_location(message) is not None:
            out["attachments"] = [media]
    if getattr(message, "edit_date", None):
        out["edited_at"] = iso(message.edit_date)
    if found := reactions(getattr(message, "reactions", None)):
        out["reactions"] = found
    return out
