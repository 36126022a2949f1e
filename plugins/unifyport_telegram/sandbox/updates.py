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
    msgs = store.since(uid, c.request.pts, limit=c.request.pts_limit or 1000)
    if not msgs:
        return types.updates.DifferenceEmpty(date=when(time.time()), seq=0)
    users, chats = entities(store, msgs, uid)
    new_state = state(c, uid)
    body = {
        "new_messages": [tl_message(m) for m in msgs],
        "new_encrypted_messages": [],
        "other_updates": [],
        "chats": chats,
        "users": users,
    }
    if msgs[-1].pts < new_state.pts:  # more than pts_limit: a slice up to the last one sent
        new_state.pts = msgs[-1].pts
        return types.updates.DifferenceSlice(intermediate_state=new_state, **body)
    return types.updates.Difference(state=new_state, **body)
