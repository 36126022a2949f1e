"""Turn raw updates about existing messages into the typed events of the SDK:
``message.edited``, ``message.deleted``, ``message.reaction`` and ``message.read``.

Like :mod:`.normalise`, this reads TL objects by class and field name (both libraries generate
the same ones) and imports neither library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unifyport.sdk import (
    Message,
    MessageDeleted,
    MessageEdited,
    MessageReaction,
    MessageRead,
    MessageUpdate,
    Reaction,
    Sender,
)

from .normalise import marked_channel, marked_id, normalise, reactions, user_view


def _channel(channel_id: int) -> str:
    return str(marked_channel(channel_id))


def _sender(peer: Any, users: Mapping[int, Any]) -> Sender | None:
    uid = getattr(peer, "user_id", None)
    return None if uid is None else Sender(**user_view(users.get(uid), int(uid)))


def _reaction(update: Any, users: Mapping[int, Any]) -> MessageReaction:
    """Who reacted: the newest entry of ``recent_reactions`` that is not the account's own;
    with none left, a reaction was taken back."""
    counts = update.reactions
    recent = [r for r in getattr(counts, "recent_reactions", None) or []
              if not getattr(r, "my", False)]
    latest = recent[0] if recent else None
    return MessageReaction(
        chat_id=str(marked_id(update.peer)), message_id=str(update.msg_id),
        emoji=getattr(latest.reaction, "emoticon", None) if latest else None,
        removed=latest is None,
        sender=_sender(latest.peer_id, users) if latest else None,
        reactions=[Reaction(**r) for r in reactions(counts)])


def to_updates(update: Any, users: Mapping[int, Any], chats: Mapping[int, Any],
               self_id: int | None) -> list[MessageUpdate]:
    """The events one raw update stands for (none for updates of no interest)."""
    kind = type(update).__name__
    if kind in ("UpdateEditMessage", "UpdateEditChannelMessage"):
        message = normalise(update.message, users, chats, self_id)
        return [] if message is None else [MessageEdited(message=Message.model_validate(message))]
    if kind == "UpdateDeleteMessages":  # Telegram does not say which chat
        if not update.messages:
            return []
        return [MessageDeleted(chat_id=None, message_ids=[str(i) for i in update.messages])]
    if kind == "UpdateDeleteChannelMessages":
        return [MessageDeleted(chat_id=_channel(update.channel_id),
                               message_ids=[str(i) for i in update.messages])]
    if kind == "UpdateMessageReactions":
        return [_reaction(update, users)]
    if kind in ("UpdateReadHistoryOutbox", "UpdateReadHistoryInbox"):
        chat = marked_id(update.peer)
        outbox = kind == "UpdateReadHistoryOutbox"
        reader = _sender(update.peer, users) if outbox else None
        return [MessageRead(chat_id=str(chat), message_id=str(update.max_id), reader=reader)]
    if kind in ("UpdateReadChannelOutbox", "UpdateReadChannelInbox"):
        return [MessageRead(chat_id=_channel(update.channel_id), message_id=str(update.max_id))]
    return []
