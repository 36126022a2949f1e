"""The messaging operations of the ``matrix`` provider: the room list, history through
``/messages``, files through the media repository, ``m.replace`` edits, redactions,
``m.reaction`` annotations and read receipts."""

from __future__ import annotations

from typing import Any

from unifyport.sdk import (
    AttachmentStream,
    Chat,
    ChatSummary,
    ErrorKind,
    Message,
    OutgoingAttachment,
    OutgoingMessage,
    Page,
    SendContext,
    StepError,
)

from . import client as mx
from .normalise import chat_summary, history_message, message, sender
from .online import Online, in_room, now_iso, online_in

MSGTYPES = {"image": "m.image", "video": "m.video", "audio": "m.audio", "voice": "m.audio",
            "file": "m.file"}


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise StepError("invalid_cursor", "not a cursor of this chat list")
    return int(cursor)


class MediaOps:
    """Mixed into :class:`MatrixProvider`."""

    async def list_chats(self, ctx: SendContext, limit: int,
                         cursor: str | None) -> Page[ChatSummary]:
        """Every joined room (one full-state sync), newest activity first; the cursor is an
        offset into that order."""
        online, start = online_in(ctx), _offset(cursor)
        with in_room():
            data = await mx.chats(online.client)
        rooms = ((data.get("rooms") or {}).get("join") or {}).items()
        chats = sorted((chat_summary(room_id, room) for room_id, room in rooms),
                       key=lambda c: (c.last_activity_at or "", c.id), reverse=True)
        end = start + limit
        return Page(chats[start:end], str(end) if end < len(chats) else None)

    async def history(self, ctx: SendContext, chat_id: str, limit: int,
                      cursor: str | None) -> Page[Message]:
        online = online_in(ctx, chat_id)
        with in_room():
            data = await mx.messages(online.client, chat_id, limit, cursor)
        items = [m for e in data.get("chunk") or [] if (m := history_message(chat_id, e))]
        end = data.get("end")
        return Page(items, str(end) if end and data.get("chunk") else None)

    async def send_file(self, online: Online, message: OutgoingMessage) -> Message:
        """One file per event (Matrix has no albums): more than one is refused."""
        if len(message.attachments) != 1:
            raise StepError("validation_failed", "Matrix sends one attachment per message")
        file = message.attachments[0]
        caption = message.text or file.caption or ""
        uri = await mx.upload(online.client, file.chunks(), file.mime_type, file.file_name,
                              file.size)
        content = _file_content(file, uri, caption)
        if message.reply_to_id is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to_id}}
        event_id = await mx.send_event(online.client, message.chat_id, "m.room.message",
                                       content)
        return message_of(online, message.chat_id, event_id, content)

    async def download(self, ctx: SendContext, chat_id: str, message_id: str,
                       index: int) -> AttachmentStream:
        online = online_in(ctx, chat_id)
        with in_room():
            event = await mx.event(online.client, chat_id, message_id)
        msg = message(chat_id, event)
        content = event.get("content") or {}
        files = msg.files() if msg is not None else []
        if index >= len(files) or not isinstance(content.get("url"), str):
            raise StepError("attachment_not_found", "the message has no such attachment")
        att = files[index]
        return AttachmentStream(mime_type=att.mime_type or "application/octet-stream",
                                chunks=mx.download(online.client, content["url"]),
                                file_name=att.file_name)

    async def edit(self, ctx: SendContext, chat_id: str, message_id: str,
                   text: str) -> Message:
        online = online_in(ctx, chat_id)
        with in_room():
            original = await mx.event(online.client, chat_id, message_id)
            if original.get("sender") != online.user_id:
                raise StepError("forbidden", "only the account's own messages can be edited",
                                kind=ErrorKind.FORBIDDEN)
            new = {"msgtype": "m.text", "body": text}
            await mx.send_event(online.client, chat_id, "m.room.message", {
                "msgtype": "m.text", "body": f"* {text}", "m.new_content": new,
                "m.relates_to": {"rel_type": "m.replace", "event_id": message_id}})
        msg = message(chat_id, original)
        if msg is None:
            raise StepError("message_not_found", "that message cannot be edited")
        return msg.model_copy(update={"text": text, "edited_at": now_iso()})

    async def delete(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        online = online_in(ctx, chat_id)
        with in_room():
            await mx.event(online.client, chat_id, message_id)  # 404 for a wrong id
            await mx.redact(online.client, chat_id, message_id)

    async def react(self, ctx: SendContext, chat_id: str, message_id: str, emoji: str,
                    remove: bool = False) -> None:
        online = online_in(ctx, chat_id)
        with in_room():
            mine = [e for e in await mx.own_reactions(online.client, chat_id, message_id,
                                                      online.user_id)
                    if ((e.get("content") or {}).get("m.relates_to") or {}).get("key") == emoji]
            if remove:
                for e in mine:
                    await mx.redact(online.client, chat_id, str(e["event_id"]))
            elif not mine:  # the homeserver refuses the same annotation twice
                await mx.event(online.client, chat_id, message_id)
                await mx.send_event(online.client, chat_id, "m.reaction", {"m.relates_to": {
                    "rel_type": "m.annotation", "event_id": message_id, "key": emoji}})

    async def mark_read(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        online = online_in(ctx, chat_id)
        with in_room():
            await mx.receipt(online.client, chat_id, message_id)


def _file_content(file: OutgoingAttachment, uri: str, caption: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "msgtype": MSGTYPES[file.kind], "url": uri, "filename": file.file_name,
        "body": caption or file.file_name,
        "info": {"mimetype": file.mime_type, "size": file.size}}
    if file.kind == "voice":
        content["org.matrix.msc3245.voice"] = {}
    return content


def message_of(online: Online, room: str, event_id: str, content: dict[str, Any]) -> Message:
    """The message this account just sent, as the sync will show it."""
    msg = message(room, {"event_id": event_id, "type": "m.room.message", "content": content,
                         "sender": online.user_id, "origin_server_ts": 0})
    assert msg is not None
    return msg.model_copy(update={"date": now_iso(), "chat": Chat(id=room, type="room",
                                                                    title=None),
                                  "sender": sender({"sender": online.user_id})})
