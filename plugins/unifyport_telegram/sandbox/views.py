"""Build Telethon TL objects (users, chats, messages, updates) from the sandbox state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from telethon.tl import types

if TYPE_CHECKING:
    from .state import Chat, Media, Message, Store, User


def when(ts: int | float) -> dt.datetime:
    """A Unix time as the aware datetime Telethon serialises."""
    return dt.datetime.fromtimestamp(int(ts), tz=dt.UTC)


def user(u: User, viewer_id: int | None) -> types.User:
    """The ``User`` object as ``viewer_id`` sees it."""
    return types.User(
        id=u.id,
        is_self=u.id == viewer_id,
        bot=u.bot or None,
        bot_nochats=u.bot or None,
        bot_info_version=1 if u.bot else None,
        access_hash=u.access_hash,
        first_name=u.first_name,
        last_name=u.last_name or None,
        username=u.username or None,
        phone=u.phone or None if not u.bot else None,
        status=None if u.bot else types.UserStatusRecently(),
    )


def chat(c: Chat) -> types.Chat:
    """A basic group."""
    return types.Chat(
        id=c.id,
        title=c.title,
        photo=types.ChatPhotoEmpty(),
        participants_count=2,
        date=when(c.date),
        version=1,
    )


def peer(m: Message) -> types.PeerUser | types.PeerChat:
    """The chat a stored message belongs to."""
    return types.PeerChat(m.peer_id) if m.peer_type == "chat" else types.PeerUser(m.peer_id)


def _attribute(hex_tl: str) -> types.TypeDocumentAttribute:
    from telethon.extensions import BinaryReader

    with BinaryReader(bytes.fromhex(hex_tl)) as reader:
        return reader.tgread_object()


def media(md: Media) -> types.TypeMessageMedia:
    """A stored photo or document as message media (its file reference included)."""
    ref = bytes.fromhex(md.file_reference)
    if md.kind == "photo":
        size = types.PhotoSize(type="x", w=md.width, h=md.height, size=md.size)
        photo = types.Photo(
            id=md.id, access_hash=md.access_hash, file_reference=ref, date=when(md.date),
            sizes=[size], dc_id=md.dc_id,
        )  # fmt: skip
        return types.MessageMediaPhoto(photo=photo)
    doc = types.Document(
        id=md.id, access_hash=md.access_hash, file_reference=ref, date=when(md.date),
        mime_type=md.mime_type, size=md.size, dc_id=md.dc_id,
        attributes=[_attribute(a) for a in md.attributes],
    )  # fmt: skip
    return types.MessageMediaDocument(document=doc)


def reactions(chosen: dict[int, str], viewer_id: int) -> types.MessageReactions | None:
    """Reaction counts and who reacted (``chosen``: user -> emoticon) as ``viewer_id`` sees
    them."""
    if not chosen:
        return None
    counts: dict[str, int] = {}
    for emoticon in chosen.values():
        counts[emoticon] = counts.get(emoticon, 0) + 1
    mine = chosen.get(viewer_id)
    results = [
        types.ReactionCount(
            reaction=types.ReactionEmoji(e), count=n, chosen_order=0 if e == mine else None
        )
        for e, n in counts.items()
    ]
    recent = [
        types.MessagePeerReaction(
            peer_id=types.PeerUser(uid), date=when(0), reaction=types.ReactionEmoji(e),
            my=uid == viewer_id or None,
        )
        for uid, e in reversed(chosen.items())  # newest first, as Telegram lists them
    ]
    return types.MessageReactions(results=results, recent_reactions=recent, can_see_list=True)


def message(m: Message, store: Store | None = None) -> types.Message:
    """A stored message as its owner sees it (with its media and reactions given the
    store)."""
    stored = store.media.get(m.media) if store is not None and m.media else None
    chosen = store.reactions.get(m.uid, {}) if store is not None else {}
    return types.Message(
        id=m.id,
        peer_id=peer(m),
        date=when(m.date),
        message=m.text,
        out=m.out or None,
        from_id=types.PeerUser(m.from_id) if (m.peer_type == "chat" or not m.out) else None,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=m.reply_to) if m.reply_to else None,
        media=media(stored) if stored is not None else None,
        edit_date=when(m.edit_date) if m.edit_date else None,
        reactions=reactions(chosen, m.owner_id),
    )


def entities(
    store: Store, msgs: Iterable[Message], viewer_id: int
) -> tuple[list[types.User], list[types.Chat]]:
    """Users and chats the messages refer to (always including the viewer)."""
    uids = {viewer_id}
    cids = set()
    for m in msgs:
        uids.add(m.from_id)
        if m.peer_type == "chat":
            cids.add(m.peer_id)
        else:
            uids.add(m.peer_id)
    users = [user(store.users[i], viewer_id) for i in sorted(uids) if i in store.users]
    chats = [chat(store.chats[i]) for i in sorted(cids) if i in store.chats]
    return users, chats


def new_message_updates(store: Store, m: Message) -> types.Updates:
    """The ``Updates`` pushed to the owner of a new message (``seq = 0``)."""
    users, chats = entities(store, [m], m.owner_id)
    return types.Updates(
        updates=[types.UpdateNewMessage(message=message(m, store), pts=m.pts, pts_count=1)],
        users=users,
        chats=chats,
        date=when(m.date),
        seq=0,
    )


def public_message(m: Message) -> dict[str, object]:
    """JSON view of a stored message for the control API."""
    return {
        "id": m.id,
        "user_id": m.owner_id,
        "pts": m.pts,
        "date": m.date,
        "text": m.text,
        "out": m.out,
        "peer": {"type": m.peer_type, "id": m.peer_id},
        "from_user_id": m.from_id,
        "reply_to_id": m.reply_to,
        "uid": m.uid,
        "media_id": m.media,
        "edit_date": m.edit_date,
    }
