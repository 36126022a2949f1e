"""Storing a message in every box it belongs to, and pushing updates to their owners."""

from __future__ import annotations

import time
from typing import Any

from telethon.tl import types

from .ports import Peer, World
from .state import Message
from .views import entities, new_message_updates, when


def post(
    sb: World,
    from_id: int,
    to_id: int | None,
    text: str,
    chat_id: int | None = None,
    *,
    reply_to: tuple[int, int] | None = None,
    origin: Peer | None = None,
    media: int | None = None,
) -> Message:
    """Deliver a message from ``from_id`` to a user or a basic group.

    ``reply_to`` is ``(box owner, message id in that box)``. The sender's copy is pushed to
    the sender's other connections (not to ``origin``, which gets the RPC answer); every
    recipient's copy to all of theirs. Returns the sender's copy.
    """
    store = sb.store
    if chat_id is not None:
        chat = store.chats[chat_id]
        for uid in (from_id, to_id):
            if uid is not None and uid in store.users and uid not in chat.members:
                chat.members.append(uid)
                store.dirty = True
        targets = sorted(set(chat.members) - {from_id})
        peer_type = "chat"
    else:
        assert to_id is not None
        targets = [] if to_id == from_id else [to_id]
        peer_type = "user"
    reply_uid = None
    if reply_to is not None:
        replied = store.find(reply_to[0], msg_id=reply_to[1])
        reply_uid = replied.uid if replied else None
    uid = store.new_uid()
    own = store.deliver(
        from_id, text=text, out=True, peer_type=peer_type,
        peer_id=chat_id if chat_id is not None else to_id or from_id, from_id=from_id,
        uid=uid, reply_to_uid=reply_uid, media=media,
    )  # fmt: skip
    push_message(sb, own, exclude=origin)
    for target in targets:
        msg = store.deliver(
            target, text=text, out=False, peer_type=peer_type,
            peer_id=chat_id if chat_id is not None else from_id, from_id=from_id,
            uid=uid, reply_to_uid=reply_uid, media=media,
        )  # fmt: skip
        push_message(sb, msg)
    return own


def push_message(sb: World, msg: Message, exclude: Peer | None = None) -> None:
    """Push ``updateNewMessage`` to every connection of the box owner but ``exclude``."""
    key_ids = sb.user_keys.get(msg.owner_id)
    if not key_ids:
        return
    _push(sb, msg.owner_id, bytes(new_message_updates(sb.store, msg)), exclude)


def _push(sb: World, owner_id: int, body: bytes, exclude: Peer | None) -> None:
    for key_id in list(sb.user_keys.get(owner_id, ())):
        for conn in list(sb.conns_by_key.get(key_id, ())):
            if conn.wants_updates and conn is not exclude:
                conn.send(body, response=False)


def updates_for(sb: World, owner_id: int, update: Any, msgs: list[Message]) -> types.Updates:
    """One update wrapped for ``owner_id`` with the users and chats of ``msgs``."""
    users, chats = entities(sb.store, msgs, owner_id)
    return types.Updates(
        updates=[update], users=users, chats=chats, date=when(time.time()), seq=0
    )


def push_update(
    sb: World, owner_id: int, update: Any, msgs: list[Message], exclude: Peer | None = None
) -> types.Updates:
    """Push one update to a box owner's connections (not ``exclude``), keep it for
    ``getDifference`` when it carries a pts, and return it wrapped (for an RPC answer)."""
    pts = getattr(update, "pts", None)
    if pts is not None:
        sb.store.remember_update(owner_id, pts, update)
    wrapped = updates_for(sb, owner_id, update, msgs)
    _push(sb, owner_id, bytes(wrapped), exclude)
    return wrapped
