"""Reading a box: history, messages by id, dialogs (and pins), chats, typing."""

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


def peer_key(c: Call, peer: Any) -> tuple[str, int]:
    if isinstance(peer, types.InputPeerChat):
        return "chat", peer.chat_id
    if isinstance(peer, types.InputPeerSelf):
        return "user", c.user().id
    if isinstance(peer, types.InputPeerUser):
        return "user", peer.user_id
    raise RpcFail(400, "PEER_ID_INVALID")


def _messages(c: Call, msgs: list[Message], count: int | None = None) -> Any:
    """``messages.messages``, or ``messages.messagesSlice`` when ``count`` (all there are)
    exceeds what is returned: libraries page on until they have ``count``."""
    me = c.user().id
    users, chats = entities(c.sandbox.store, msgs, me)
    body = {
        "messages": [tl_message(m, c.sandbox.store) for m in msgs],
        "topics": [],
        "chats": chats,
        "users": users,
    }
    if count is not None and count > len(msgs):
        return types.messages.MessagesSlice(count=count, **body)
    return types.messages.Messages(**body)


@HANDLERS.handles(functions.messages.GetHistoryRequest)
def get_history(c: Call) -> types.messages.TypeMessages:
    """Newest first, honouring ``offset_id``, ``limit``, ``min_id`` and ``max_id``."""
    req = c.request
    key = peer_key(c, req.peer)
    box = c.sandbox.store.boxes.get(c.user().id, [])
    msgs = [m for m in reversed(box) if (m.peer_type, m.peer_id) == key]
    total = len(msgs)
    if req.offset_id:
        msgs = [m for m in msgs if m.id < req.offset_id]
    if req.min_id:
        msgs = [m for m in msgs if m.id > req.min_id]
    if req.max_id:
        msgs = [m for m in msgs if m.id < req.max_id]
    return _messages(c, msgs[max(req.add_offset, 0) :][: req.limit or 100], total)


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


def _dialog(c: Call, m: Message) -> types.Dialog:
    store = c.sandbox.store
    key = (m.owner_id, m.peer_type, m.peer_id)
    inbox = store.read_inbox.get(key, 0)
    unread = sum(
        1 for x in store.boxes.get(m.owner_id, [])
        if not x.out and x.id > inbox and (x.peer_type, x.peer_id) == (m.peer_type, m.peer_id)
    )  # fmt: skip
    return types.Dialog(
        peer=tl_peer(m), top_message=m.id, read_inbox_max_id=inbox,
        read_outbox_max_id=store.read_outbox.get(key, 0), unread_count=unread,
        unread_mentions_count=0, unread_reactions_count=0, unread_poll_votes_count=0,
        notify_settings=types.PeerNotifySettings(),
        pinned=(m.peer_type, m.peer_id) in c.sandbox.pinned.get(m.owner_id, ()) or None,
    )  # fmt: skip


@HANDLERS.handles(functions.messages.GetDialogsRequest)
def get_dialogs(c: Call) -> types.messages.TypeDialogs:
    """One dialog per peer of the caller's box: pinned ones first (unless ``exclude_pinned``
    or paging), then by newest message; paged by ``offset_id`` (the top message id of the
    last dialog seen) like Telegram."""
    req = c.request
    me = c.user().id
    latest: dict[tuple[str, int], Message] = {}
    for m in c.sandbox.store.boxes.get(me, []):
        latest[(m.peer_type, m.peer_id)] = m
    pins = c.sandbox.pinned.get(me, [])
    ordered = sorted(latest.values(), key=lambda m: m.id, reverse=True)
    pinned = [latest[p] for p in pins if p in latest]
    rest = [m for m in ordered if (m.peer_type, m.peer_id) not in pins]
    if req.offset_id:
        page = [m for m in rest if m.id < req.offset_id]
    else:
        page = rest if req.exclude_pinned else pinned + rest
    tops = page[: req.limit or 100]
    users, chats = entities(c.sandbox.store, tops, me)
    body = {
        "dialogs": [_dialog(c, m) for m in tops],
        "messages": [tl_message(m, c.sandbox.store) for m in tops],
        "chats": chats,
        "users": users,
    }
    if len(tops) < len(latest):
        return types.messages.DialogsSlice(count=len(latest), **body)
    return types.messages.Dialogs(**body)


@HANDLERS.handles(functions.messages.ToggleDialogPinRequest)
def toggle_dialog_pin(c: Call) -> bool:
    """Pin or unpin a dialog (newest pin first, as Telegram lists them)."""
    me = c.user().id
    kind, pid = peer_key(c, getattr(c.request.peer, "peer", None))
    pins = c.sandbox.pinned.setdefault(me, [])
    if (kind, pid) in pins:
        pins.remove((kind, pid))
    if c.request.pinned:
        pins.insert(0, (kind, pid))
    return True
