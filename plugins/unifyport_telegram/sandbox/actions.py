"""Acting on messages: sending media, editing, deleting, reacting and reading.

Each action changes every box holding a copy of the message (copies share a ``uid``) and
pushes the matching update to each owner's connections: ``updateNewMessage`` with media,
``updateEditMessage``, ``updateDeleteMessages``, ``updateMessageReactions`` and
``updateReadHistoryInbox``/``Outbox``. The acting connection gets the update in its answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from telethon.tl import functions, types

from .delivery import post, push_update, updates_for
from .files import new_media
from .history import peer_key
from .messages import reply_of, target
from .rpc import Call, HandlerTable, RpcFail
from .state import Message, Store
from .views import message as tl_message
from .views import peer as tl_peer
from .views import reactions as tl_reactions

HANDLERS = HandlerTable()


def copies(store: Store, msg: Message) -> list[Message]:
    """Every box's copy of a message (the given one included)."""
    found = []
    for owner in store.boxes:
        copy = msg if owner == msg.owner_id else store.find(owner, uid=msg.uid)
        if copy is not None:
            found.append(copy)
    return found


def _to_every_copy(c: Call, msg: Message, update_for: Callable[[Message], Any]) -> types.Updates:
    """Push ``update_for(copy)`` to the owner of each copy of ``msg``; the caller's own
    update, wrapped, is the RPC answer (its other connections get it pushed)."""
    me, answer = c.user().id, None
    for copy in copies(c.sandbox.store, msg):
        own = copy.owner_id == me
        wrapped = push_update(c.sandbox, copy.owner_id, update_for(copy), [copy],
                              c.conn if own else None)
        answer = wrapped if own else answer
    assert answer is not None
    return answer


def _in_box(c: Call, peer: Any, msg_id: int) -> Message:
    key = peer_key(c, peer)
    msg = c.sandbox.store.find(c.user().id, msg_id=msg_id)
    if msg is None or (msg.peer_type, msg.peer_id) != key:
        raise RpcFail(400, "MESSAGE_ID_INVALID")
    return msg


@HANDLERS.handles(functions.messages.SendMediaRequest)
def send_media(c: Call) -> types.Updates:
    """A photo or document (with a caption) stored, then pushed like a text message."""
    me, req = c.user(), c.request
    if len(req.message or "") > 1024:
        raise RpcFail(400, "MEDIA_CAPTION_TOO_LONG")
    to_id, chat_id = target(c, req.peer, req.random_id)
    media = new_media(c, req.media)
    msg = post(
        c.sandbox, me.id, to_id, req.message or "", chat_id,
        reply_to=reply_of(c, req.reply_to), origin=c.conn, media=media.id,
    )  # fmt: skip
    answer = updates_for(
        c.sandbox, me.id,
        types.UpdateNewMessage(message=tl_message(msg, c.sandbox.store), pts=msg.pts, pts_count=1),
        [msg],
    )  # fmt: skip
    answer.updates.insert(0, types.UpdateMessageID(id=msg.id, random_id=req.random_id))
    return answer


@HANDLERS.handles(functions.messages.EditMessageRequest)
def edit_message(c: Call) -> types.Updates:
    """New text for an own message, in every copy."""
    req = c.request
    msg = _in_box(c, req.peer, req.id)
    if not msg.out:
        raise RpcFail(403, "MESSAGE_AUTHOR_REQUIRED")
    if req.media is not None or req.message is None:
        raise RpcFail(400, "MEDIA_EDIT_INVALID" if req.media is not None else "MESSAGE_EMPTY")
    if not req.message and not msg.media:
        raise RpcFail(400, "MESSAGE_EMPTY")
    if req.message == msg.text:
        raise RpcFail(400, "MESSAGE_NOT_MODIFIED")
    store, now = c.sandbox.store, int(time.time())

    def edited(copy: Message) -> types.UpdateEditMessage:
        pts = store.bump(copy.owner_id)
        store.change({"op": "edit", "owner": copy.owner_id, "id": copy.id,
                      "text": req.message, "edit_date": now, "pts": pts})  # fmt: skip
        return types.UpdateEditMessage(message=tl_message(copy, store), pts=pts, pts_count=1)

    return _to_every_copy(c, msg, edited)


@HANDLERS.handles(functions.messages.DeleteMessagesRequest)
def delete_messages(c: Call) -> types.messages.AffectedMessages:
    """Delete from the caller's box; with ``revoke`` from every box."""
    me, req, store = c.user(), c.request, c.sandbox.store
    by_owner: dict[int, list[int]] = {}
    for msg_id in req.id:
        msg = store.find(me.id, msg_id=msg_id)
        if msg is None:
            continue
        for copy in copies(store, msg) if req.revoke else [msg]:
            by_owner.setdefault(copy.owner_id, []).append(copy.id)
    pts, count = store.pts.get(me.id, 1), 0
    for owner, ids in by_owner.items():
        new_pts = store.bump(owner, len(ids))
        store.change({"op": "delete", "owner": owner, "ids": ids, "pts": new_pts})
        update = types.UpdateDeleteMessages(messages=ids, pts=new_pts, pts_count=len(ids))
        push_update(c.sandbox, owner, update, [], c.conn if owner == me.id else None)
        if owner == me.id:
            pts, count = new_pts, len(ids)
    return types.messages.AffectedMessages(pts=pts, pts_count=count)


@HANDLERS.handles(functions.messages.SendReactionRequest)
def send_reaction(c: Call) -> types.Updates:
    """Set (or, with no reaction, remove) the caller's emoji reaction on a message."""
    me, req, store = c.user(), c.request, c.sandbox.store
    msg = _in_box(c, req.peer, req.msg_id)
    chosen = [r.emoticon for r in req.reaction or () if isinstance(r, types.ReactionEmoji)]
    if req.reaction and not chosen:
        raise RpcFail(400, "REACTION_INVALID")
    store.change({"op": "react", "uid": msg.uid, "user": me.id,
                  "emoticon": chosen[0] if chosen else ""})  # fmt: skip

    def reacted(copy: Message) -> types.UpdateMessageReactions:
        counts = tl_reactions(store.reactions.get(msg.uid, {}), copy.owner_id)
        return types.UpdateMessageReactions(
            peer=tl_peer(copy), msg_id=copy.id,
            reactions=counts or types.MessageReactions(results=[]),
        )

    return _to_every_copy(c, msg, reacted)


@HANDLERS.handles(functions.messages.ReadHistoryRequest)
def read_history(c: Call) -> types.messages.AffectedMessages:
    """Mark incoming messages read up to ``max_id`` (0: all); the senders see their outbox
    read."""
    me, req, store = c.user(), c.request, c.sandbox.store
    kind, pid = peer_key(c, req.peer)
    incoming = [
        m for m in store.boxes.get(me.id, [])
        if (m.peer_type, m.peer_id) == (kind, pid) and not m.out
    ]  # fmt: skip
    upto = [m for m in incoming if not req.max_id or m.id <= req.max_id]
    current = store.read_inbox.get((me.id, kind, pid), 0)
    if not upto or upto[-1].id <= current:
        return types.messages.AffectedMessages(pts=store.pts.get(me.id, 1), pts_count=0)
    top = upto[-1]
    pts = store.bump(me.id)
    store.change({"op": "read", "owner": me.id, "box": "inbox", "peer_type": kind,
                  "peer_id": pid, "max_id": top.id, "pts": pts})  # fmt: skip
    inbox = types.UpdateReadHistoryInbox(
        peer=tl_peer(top), max_id=top.id, pts=pts, pts_count=1,
        still_unread_count=sum(1 for m in incoming if m.id > top.id),
    )  # fmt: skip
    push_update(c.sandbox, me.id, inbox, [top], c.conn)
    for copy in copies(store, top):
        if copy.owner_id == me.id:
            continue
        their = store.bump(copy.owner_id)
        store.change({"op": "read", "owner": copy.owner_id, "box": "outbox",
                      "peer_type": copy.peer_type, "peer_id": copy.peer_id,
                      "max_id": copy.id, "pts": their})  # fmt: skip
        outbox = types.UpdateReadHistoryOutbox(
            peer=tl_peer(copy), max_id=copy.id, pts=their, pts_count=1
        )
        push_update(c.sandbox, copy.owner_id, outbox, [copy])
    return types.messages.AffectedMessages(pts=pts, pts_count=1)
