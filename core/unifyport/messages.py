"""The unified message model: what every channel's messages become.

Used by the ``message.received`` / ``message.sent`` events, the send route and the OpenAPI
document. A channel fills what it knows; fields it never sets are left out of the JSON
(``Message.as_json``), so a channel's events carry only what it has. Room is made for edits
(``edited_at``), deletions (``deleted``), reactions and read state.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
        default=None, description="The message's one attachment, when it has one.")
    attachments: list[Attachment] = Field(default_factory=list)
    edited_at: str | None = None
    deleted: bool = False
    reactions: list[Reaction] = Field(default_factory=list)
    read: bool | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON of the fields the channel set (``None`` values it set stay)."""
        return self.model_dump(mode="json", exclude_unset=True)


class OutgoingMessage(_Model):
    """What ``POST /v1/accounts/{id}/messages`` asks a channel to send. ``text`` is within
    the provider's ``text_limit`` (checked by the core)."""

    chat_id: str
    text: str
    reply_to_id: str | None = None
