"""Reading a box: history, messages by id, dialogs, chats, read receipts, typing."""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from .rpc import Call, HandlerTable, RpcFail
from .state import Message
from .views import chat as tl_chat
from .views import entities
from .views import message as tl_message
from .views import peer as tl_peer

HANDLERS = HandlerTable()


def _peer_key(c: Call, peer: Any) -> tuple[str, int]:
    if isinstance(peer, types.InputPeerChat):
        return "chat", peer.chat_id
    if isinstance(peer, types.InputPeerSelf):
        return "user", c.user().id
    if isinstance(peer, types.InputPeerUser):
        return "user", peer.user_id
    raise RpcFail(400, "PEER_ID_INVALID")


def _messages(c: Call, msgs: list[Message]) -> types.messages.Messages:
    me = c.user().id
    users, chats = entities(c.sandbox.store, msgs, me)
    return types.messages.Messages(
        messages=[tl_message(m) for m in msgs], topics=[], chats=chats, users=users
    )


@HANDLERS.handles(functions.messages.GetHistoryRequest)
def get_history(c: Call) -> types.messages.Messages:
    """Newest first, honouring ``offset_id``, ``limit``, ``min_id`` and ``max_id``."""
    req = c.request
    key = _peer_key(c, req.peer)
    box = c.sandbox.store.boxes.get(c.user().id, [])
    msgs = [m for m in reversed(box) if (m.peer_type, m.peer_id) == key]
    if req.offset_id:
        msgs = [m for m in msgs if m.id < req.offset_id]
    if req.min_id:
        msgs = [m for m in msgs if m.id > req.min_id]
    if req.max_id:
        msgs = [m for m in msgs if m.id < req.max_id]
    return _messages(c, msgs[max(req.add_offset, 0) :][: req.limit or 100])


@HANDLERS.handles(functions.messages.GetMessagesRequest)
def get_messages(c: Call) -> types.messages.Messages:
    """Messages of the caller's box by id (missing ones are skipped)."""
    me = c.user().id
    found = []
    for item in c.request.id:
        msg = c.sandbox.store.find(me, msg_id=getattr(item, "id", 0))
        if msg is not None:
            found.append(msg)
    return _messages(c, found)


@HANDLERS.handles(functions.messages.ReadHistoryRequest)
def read_history(c: Call) -> types.messages.AffectedMessages:
    """Accepted; read state is not modelled."""
    me = c.user().id
    return types.messages.AffectedMessages(pts=c.sandbox.store.pts.get(me, 1), pts_count=0)


@HANDLERS.handles(functions.messages.SetTypingRequest)
def set_typing(c: Call) -> bool:
    """Accepted and dropped."""
    c.user()
    return True


@HANDLERS.handles(functions.messages.GetChatsRequest)
def get_chats(c: Call) -> types.messages.Chats:
    """Basic groups by id."""
    c.user()
    chats = c.sandbox.store.chats
    return types.messages.Chats(chats=[tl_chat(chats[i]) for i in c.request.id if i in chats])


def _dialog(m: Message) -> types.Dialog:
    return types.Dialog(
        peer=tl_peer(m), top_message=m.id, read_inbox_max_id=m.id, read_outbox_max_id=m.id,
        unread_count=0, unread_mentions_count=0, unread_reactions_count=0,
        unread_poll_votes_count=0, notify_settings=types.PeerNotifySettings(),
    )  # fmt: skip


@HANDLERS.handles(functions.messages.GetDialogsRequest)
def get_dialogs(c: Call) -> types.messages.Dialogs:
    """One dialog per peer of the caller's box, newest first."""
    me = c.user().id
    latest: dict[tuple[str, int], Message] = {}
    for m in c.sandbox.store.boxes.get(me, []):
        latest[(m.peer_type, m.peer_id)] = m
    tops = sorted(latest.values(), key=lambda m: m.id, reverse=True)[: c.request.limit or 100]
    dialogs = [_dialog(m) for m in tops]
    users, chats = entities(c.sandbox.store, tops, me)
    return types.messages.Dialogs(
        dialogs=dialogs, messages=[tl_message(m) for m in tops], chats=chats, users=users
    )
