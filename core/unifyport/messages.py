"""The unified message model: what every channel's messages become.

Used by the ``message.received`` / ``message.sent`` events, the send route and the OpenAPI
document. A channel fills what it knows; fields it never sets are left out of the JSON
(``Message.as_json``), so a channel's events carry only what it has.

The messaging surface (chats, history, media, edits, deletions, reactions, read state) adds:
:class:`ChatSummary` and :class:`Page` (what ``list_chats`` / ``history`` answer),
:class:`OutgoingAttachment` (a file to send, spooled to disk by the core),
:class:`AttachmentStream` (a download, streamed in chunks) and the typed payloads of the
``message.edited`` / ``message.deleted`` / ``message.reaction`` / ``message.read`` events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import quote

import anyio
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
CHUNK = 256 * 1024
"""Default chunk size of :meth:`OutgoingAttachment.chunks`."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Chat(_Model):
    id: str = Field(description="The channel's chat id, as a string.")
    type: str = Field(description="`private`, `group`, `channel`, or the channel's own kind.")
    title: str | None = Field(description="Given, even when unknown (`None`): chats and "
                                          "senders always carry every field.")


class Sender(_Model):
    id: str
    display_name: str | None
    username: str | None


class Attachment(_Model):
    """A file or rich content carried by a message."""

    type: str = Field(description="`photo`, `document`, `video`, `audio`, `voice`, "
                                  "`sticker`, `location`, `other`...")
    mime_type: str | None = None
    size: int | None = None
    file_name: str | None = None
    download_url: str | None = Field(
        default=None, description="The API path that streams the attachment's bytes; set by "
                                  "the core (a provider leaves it out).")


class Reaction(_Model):
    emoji: str
    count: int = 1
    own: bool = False


class Message(_Model):
    """One message, received or sent."""

    id: str = Field(description="The channel's message id, unique within the chat.")
    chat: Chat
    sender: Sender | None = None
    text: str = ""
    date: str = Field(description="RFC 3339 time the channel gives the message.")
    reply_to_id: str | None = None
    media: Attachment | None = Field(
        default=None, description="The message's first attachment (same as "
                                  "`attachments[0]`), when it has one.")
    attachments: list[Attachment] = Field(
        default_factory=list, description="The message's files; the index in this list is "
                                          "the one the download route takes.")
    edited_at: str | None = None
    deleted: bool = False
    reactions: list[Reaction] = Field(default_factory=list)
    read: bool | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON of the fields the channel set (``None`` values it set stay)."""
        return self.model_dump(mode="json", exclude_unset=True)


    def files(self) -> list[Attachment]:
        """The attachments by index: ``attachments``, else the one ``media``."""
        return list(self.attachments) or ([self.media] if self.media is not None else [])


AttachmentKind = Literal["image", "video", "audio", "voice", "file"]


class OutgoingAttachment(_Model):
    """A file to send. The core has already spooled its bytes to ``path`` (a private
    temporary file it deletes after ``send`` returns) within the configured size cap; read it
    with :meth:`chunks` or hand the path to the client library, never all at once."""

    kind: AttachmentKind
    """``image``, ``video``, ``audio``, ``voice`` (a voice note) or ``file`` (a document)."""
    file_name: str
    mime_type: str
    size: int
    path: Path = Field(exclude=True)
    caption: str | None = None
    """Text shown with this file (channels that caption each file)."""

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        """The bytes in chunks of at most ``size``, read without blocking the event loop."""
        async with await anyio.open_file(self.path, "rb") as f:
            while chunk := await f.read(size):
                yield chunk


class OutgoingMessage(_Model):
    """What ``POST /v1/accounts/{id}/messages`` asks a channel to send. ``text`` is within
    the provider's ``text_limit`` (checked by the core); with attachments it is the caption
    and may be empty (capability ``media``)."""

    chat_id: str
    text: str
    reply_to_id: str | None = None
    attachments: list[OutgoingAttachment] = Field(default_factory=list)


class ChatSummary(_Model):
    """One entry of ``list_chats``: a chat with its unread count and latest message."""

    id: str
    type: str = Field(description="`private`, `group`, `channel`, or the channel's own kind.")
    title: str | None
    unread_count: int | None = None
    last_message: Message | None = None
    last_activity_at: str | None = Field(
        default=None, description="RFC 3339 time of the latest activity (the sort key).")


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of ``list_chats`` / ``history``: newest first; ``next_cursor`` (opaque to the
    core, at most 512 characters) continues with older entries, ``None`` at the end."""

    items: Sequence[T]
    next_cursor: str | None = None


@dataclass
class AttachmentStream:
    """What ``download`` answers: the file's metadata and its bytes as an async iterator of
    chunks, pulled as the HTTP client reads (the core closes it with ``aclose`` when the
    client goes away, so write it as an async generator with cleanup in ``finally``)."""

    mime_type: str
    chunks: AsyncIterator[bytes]
    file_name: str | None = None
    size: int | None = None


class MessageUpdate(_Model):
    """Base of the typed event payloads a runtime emits about existing messages:
    ``await ctx.emit_many([u.event(self.name) for u in updates])``."""

    event_type: ClassVar[str]

    def event(self, provider: str) -> tuple[str, dict[str, Any]]:
        """``(type, data)`` for :meth:`RuntimeContext.emit_many`."""
        data = self.model_dump(mode="json")
        if isinstance(message := getattr(self, "message", None), Message):
            data["message"] = message.as_json()  # as in message.received: what was set
        return self.event_type, {"provider": provider, **data}


class MessageEdited(MessageUpdate):
    """``message.edited``: the message as it is now (``edited_at`` set)."""

    event_type: ClassVar[str] = "message.edited"
    message: Message


class MessageDeleted(MessageUpdate):
    """``message.deleted``: messages removed (``chat_id`` is ``None`` when the channel does
    not say which chat, as Telegram's private-chat deletions)."""

    event_type: ClassVar[str] = "message.deleted"
    chat_id: str | None
    message_ids: list[str]
    sender: Sender | None = None
    """Who deleted them, when the channel says."""


class MessageReaction(MessageUpdate):
    """``message.reaction``: ``sender`` added (or with ``removed``, took back) ``emoji``;
    ``reactions`` are the totals when the channel gives them."""

    event_type: ClassVar[str] = "message.reaction"
    chat_id: str
    message_id: str
    emoji: str | None
    removed: bool = False
    sender: Sender | None = None
    reactions: list[Reaction] = Field(default_factory=list)


class MessageRead(MessageUpdate):
    """``message.read``: ``reader`` read the chat up to ``message_id`` (``reader`` is
    ``None`` when the account itself read it elsewhere)."""

    event_type: ClassVar[str] = "message.read"
    chat_id: str
    message_id: str
    reader: Sender | None = None


def attachment_path(account_id: str, chat_id: str, message_id: str, index: int) -> str:
    """The download route of one attachment."""
    return (f"/v1/accounts/{account_id}/chats/{quote(chat_id, safe='!$:@')}/messages/"
            f"{quote(message_id, safe='!$:@')}/attachments/{index}")


NOT_FILES = frozenset({"location", "encrypted", "contact", "poll"})
"""Attachment types without bytes to download."""


def linked(account_id: str, message: Message | dict[str, Any]) -> dict[str, Any]:
    """The message's JSON with each attachment's ``download_url`` filled in: what events,
    history and the send route carry. A JSON dict given is completed in place."""
    data = message.as_json() if isinstance(message, Message) else message
    chat, mid = str((data.get("chat") or {}).get("id", "")), str(data.get("id", ""))
    media = data.get("media")
    for i, att in [*enumerate(data.get("attachments") or []), *([(0, media)] if media else [])]:
        if isinstance(att, dict) and att.get("type") not in NOT_FILES:
            att["download_url"] = attachment_path(account_id, chat, mid, i)
    return data
