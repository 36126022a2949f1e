"""Backend logic over raw TL objects, written once for both libraries.

Telethon (``telethon.tl.types``) and Kurigram (``pyrogram.raw.types``) generate their TL
classes from the same schema: class names and keyword arguments agree, so each function takes
the library's ``types`` namespace and imports neither library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..backend import RawBatch
from ..normalise import unmark
from ..session_data import UpdateState

MAX_DIFFERENCE_ROUNDS = 100
"""``updates.getDifference`` calls one catch-up makes at most."""


def timestamp(value: Any) -> int:
    """A TL date as Unix time (Telethon gives datetimes, Kurigram ints)."""
    return int(value.timestamp()) if isinstance(value, dt.datetime) else int(value or 0)


def is_new_message(types: Any, update: Any) -> bool:
    """Whether ``update`` is ``updateNewMessage`` or ``updateNewChannelMessage``."""
    return isinstance(update, types.UpdateNewMessage | types.UpdateNewChannelMessage)


#: Updates about existing messages the runtime turns into events.
MESSAGE_UPDATES = frozenset({
    "UpdateEditMessage", "UpdateEditChannelMessage", "UpdateDeleteMessages",
    "UpdateDeleteChannelMessages", "UpdateMessageReactions", "UpdateReadHistoryInbox",
    "UpdateReadHistoryOutbox", "UpdateReadChannelInbox", "UpdateReadChannelOutbox"})


def is_wanted(types: Any, update: Any) -> bool:
    """A new message or an update about an existing one (see :data:`MESSAGE_UPDATES`)."""
    return is_new_message(types, update) or type(update).__name__ in MESSAGE_UPDATES


def others(updates: Iterable[Any]) -> list[Any]:
    """The updates about existing messages among ``updates``."""
    return [u for u in updates if type(u).__name__ in MESSAGE_UPDATES]


def new_messages(types: Any, updates: Iterable[Any]) -> list[Any]:
    """The messages of the new-message updates among ``updates``."""
    return [u.message for u in updates if is_new_message(types, u)]


def pushed_batch(types: Any, update: Any, users: dict[int, Any],
                 chats: dict[int, Any]) -> RawBatch:
    """A pushed update as a batch (see :func:`is_wanted`)."""
    if not is_new_message(types, update):
        return RawBatch([], users, chats, None, [update])
    state = None
    if isinstance(update, types.UpdateNewMessage):
        state = UpdateState(update.pts, timestamp(update.message.date), 0)
    return RawBatch([update.message], users, chats, state)


async def difference(types: Any, fetch: Callable[[UpdateState], Awaitable[Any]],
                     state: UpdateState) -> list[RawBatch]:
    """Everything since ``state``: ``fetch`` (one ``updates.getDifference``) until done."""
    batches: list[RawBatch] = []
    t = types.updates
    for _ in range(MAX_DIFFERENCE_ROUNDS):
        diff = await fetch(state)
        if isinstance(diff, t.DifferenceEmpty):
            break
        if isinstance(diff, t.DifferenceTooLong):
            state = UpdateState(diff.pts, state.date, state.qts)
            continue
        final = isinstance(diff, t.Difference)
        st = diff.state if final else diff.intermediate_state
        state = UpdateState(st.pts, timestamp(st.date), st.qts)
        messages = list(diff.new_messages) + new_messages(types, diff.other_updates)
        batches.append(RawBatch(messages, {u.id: u for u in diff.users},
                                {c.id: c for c in diff.chats}, state,
                                others(diff.other_updates)))
        if final:
            break
    return batches


def input_peer(types: Any, chat_id: int) -> Any:
    """A peer for a chat not in the library's cache (the server checks the zero access
    hash)."""
    kind, raw = unmark(chat_id)
    if kind == "user":
        return types.InputPeerUser(user_id=raw, access_hash=0)
    if kind == "chat":
        return types.InputPeerChat(chat_id=raw)
    return types.InputPeerChannel(channel_id=raw, access_hash=0)


def _peer(types: Any, peer: Any) -> Any:
    if isinstance(peer, types.InputPeerUser):
        return types.PeerUser(user_id=peer.user_id)
    if isinstance(peer, types.InputPeerChat):
        return types.PeerChat(chat_id=peer.chat_id)
    if isinstance(peer, types.InputPeerChannel):
        return types.PeerChannel(channel_id=peer.channel_id)
    return types.PeerUser(user_id=0)


def sent_batch(types: Any, res: Any, peer: Any, text: str, reply_to: int | None,
               self_id: int | None) -> RawBatch:
    """``messages.sendMessage``'s answer as a batch holding the sent message (rebuilt from
    the request when Telegram answers with the short form)."""
    if isinstance(res, types.UpdateShortSentMessage):
        reply = types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None
        msg = types.Message(
            id=res.id, peer_id=_peer(types, peer), date=res.date, message=text, out=True,
            from_id=types.PeerUser(user_id=self_id or 0), reply_to=reply, media=res.media)
        return RawBatch([msg], {}, {}, None)
    users = {u.id: u for u in getattr(res, "users", [])}
    chats = {c.id: c for c in getattr(res, "chats", [])}
    return RawBatch(new_messages(types, getattr(res, "updates", [])), users, chats, None)
