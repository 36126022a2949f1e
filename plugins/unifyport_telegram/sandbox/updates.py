"""``updates.getState`` / ``updates.getDifference`` over the per-user message boxes."""

from __future__ import annotations

import time

from telethon.tl import functions, types

from .rpc import Call, HandlerTable
from .state import BASE_PTS
from .views import entities, when
from .views import message as tl_message

HANDLERS = HandlerTable()


def state(c: Call, uid: int) -> types.updates.State:
    """The update state of a user's box."""
    return types.updates.State(
        pts=c.sandbox.store.pts.get(uid, BASE_PTS),
        qts=0,
        date=when(time.time()),
        seq=0,
        unread_count=0,
    )


@HANDLERS.handles(functions.updates.GetStateRequest)
def get_state(c: Call) -> types.updates.State:
    """Current pts of the caller's box."""
    return state(c, c.user().id)


@HANDLERS.handles(functions.updates.GetDifferenceRequest)
def get_difference(c: Call) -> types.updates.TypeDifference:
    """The stored messages the client missed since its pts."""
    uid = c.user().id
    store = c.sandbox.store
    limit = c.request.pts_limit or 1000
    msgs = store.since(uid, c.request.pts, limit=limit)
    new_state = state(c, uid)
    if not msgs and new_state.pts <= c.request.pts:
        return types.updates.DifferenceEmpty(date=when(time.time()), seq=0)
    if len(msgs) >= limit:  # maybe more waiting: a slice, other updates up to its end
        new_state.pts = msgs[-1].pts
    others = [
        u for pts, u in store.other_updates.get(uid, []) if c.request.pts < pts <= new_state.pts
    ]
    users, chats = entities(store, msgs, uid)
    body = {
        "new_messages": [tl_message(m, store) for m in msgs],
        "new_encrypted_messages": [],
        "other_updates": others,
        "chats": chats,
        "users": users,
    }
    if new_state.pts < store.pts.get(uid, BASE_PTS):  # more than pts_limit were waiting
        return types.updates.DifferenceSlice(intermediate_state=new_state, **body)
    return types.updates.Difference(state=new_state, **body)
