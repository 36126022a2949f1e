"""The provider's messaging operations (chats, history, files, edits, deletions, reactions,
read state) over the client an online account's runtime attached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unifyport.sdk import (
    AttachmentStream,
    ChatSummary,
    Message,
    OutgoingMessage,
    Page,
    SendContext,
    StepError,
)

from .backend import Upload
from .normalise import chat_view, file_location, iso, marked_id, normalise
from .runtime import (
    INT64,
    call,
    chat_number,
    first_message,
    message_number,
    online_of,
)

CAPTION_LIMIT = 1024


def _cursor(cursor: str | None, parts: int) -> list[int]:
    if cursor is None:
        return [0] * parts
    try:
        values = [int(v) for v in cursor.split(":")]
    except ValueError:
        values = []
    if len(values) != parts or not all(INT64[0] <= v <= INT64[1] for v in values):
        raise StepError("invalid_cursor", "the cursor is not one this API gave")
    return values


async def list_chats(ctx: SendContext, limit: int, cursor: str | None) -> Page[ChatSummary]:
    """``messages.getDialogs``: Telegram's order (pinned chats first, then newest activity);
    the cursor is the last dialog's ``date:top_message:peer``."""
    online = online_of(ctx)
    offset = _cursor(cursor, 3)
    page = await call(online, online.client.get_dialogs(
        limit, (offset[0], offset[1], offset[2]) if cursor else None))
    batch = page.batch
    tops = {(marked_id(m.peer_id), m.id): m for m in batch.messages
            if getattr(m, "peer_id", None) is not None}
    items, last = [], None
    for dialog in page.dialogs:
        chat_id = marked_id(dialog.peer)
        top = tops.get((chat_id, dialog.top_message))
        message = normalise(top, batch.users, batch.chats, online.self_id) if top else None
        items.append(ChatSummary(
            **chat_view(chat_id, batch.users, batch.chats),
            unread_count=int(dialog.unread_count),
            last_message=Message.model_validate(message) if message else None,
            last_activity_at=iso(top.date) if top is not None else None))
        if top is not None:
            date = top.date.timestamp() if hasattr(top.date, "timestamp") else top.date
            last = f"{int(date)}:{top.id}:{chat_id}"
    return Page(items, last if page.more and last else None)


async def history(ctx: SendContext, chat_id: str, limit: int,
                  cursor: str | None) -> Page[Message]:
    """``messages.getHistory``, newest first; the cursor is the oldest id returned."""
    online = online_of(ctx)
    chat = chat_number(chat_id)
    (offset_id,) = _cursor(cursor, 1)
    batch = await call(online, online.client.get_history(chat, limit, offset_id))
    items = []
    for raw in batch.messages:
        found = normalise(raw, batch.users, batch.chats, online.self_id)
        if found is not None:
            items.append(Message.model_validate(found))
    ids = [int(getattr(m, "id", 0)) for m in batch.messages]
    more = len(batch.messages) >= limit and min(ids, default=0) > 1
    return Page(items, str(min(ids)) if more else None)


async def send_files(ctx: SendContext, message: OutgoingMessage) -> Message:
    """One Telegram message per attachment (the text captions the first); answers the first.
    Each file is uploaded in parts from the core's spooled copy."""
    online = online_of(ctx)
    chat = chat_number(message.chat_id)
    reply = None if message.reply_to_id is None else message_number(message.reply_to_id,
                                                                    "reply_to_id")
    captions = [(message.text if i == 0 else "") or att.caption or ""
                for i, att in enumerate(message.attachments)]
    if any(len(c) > CAPTION_LIMIT for c in captions):
        raise StepError("message_too_long",
                        f"a caption holds at most {CAPTION_LIMIT} characters")
    first: Message | None = None
    for i, (att, caption) in enumerate(zip(message.attachments, captions, strict=True)):
        upload = Upload(att.path, att.file_name, att.mime_type, att.size, att.kind)
        batch = await call(online, online.client.send_media(
            chat, upload, caption, reply if i == 0 else None))
        sent = first_message(online, batch)
        first = first or sent
    assert first is not None
    return first


async def download(ctx: SendContext, chat_id: str, message_id: str,
                   index: int) -> AttachmentStream:
    """The message's photo or document (a Telegram message holds one file: index 0),
    fetched in chunks as the HTTP client reads them."""
    online = online_of(ctx)
    chat, msg_id = chat_number(chat_id), message_number(message_id)
    batch = await call(online, online.client.get_messages(chat, [msg_id]))
    raw = next((m for m in batch.messages if getattr(m, "id", None) == msg_id), None)
    if raw is None:
        raise StepError("message_not_found", "no such message in this chat")
    location = file_location(raw)
    found = normalise(raw, batch.users, batch.chats, online.self_id) or {}
    if location is None or index != 0:
        raise StepError("attachment_not_found", "the message has no such attachment")
    media: dict[str, Any] = found.get("media") or {}

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in online.client.iter_file(location):
            yield chunk

    return AttachmentStream(mime_type=media.get("mime_type") or "application/octet-stream",
                            chunks=chunks(), file_name=media.get("file_name"),
                            size=location.size)


async def edit(ctx: SendContext, chat_id: str, message_id: str, text: str) -> Message:
    online = online_of(ctx)
    chat, msg_id = chat_number(chat_id), message_number(message_id)
    return first_message(online, await call(online, online.client.edit_message(
        chat, msg_id, text)))


async def delete(ctx: SendContext, chat_id: str, message_id: str) -> None:
    online = online_of(ctx)
    chat, msg_id = chat_number(chat_id), message_number(message_id)
    await call(online, online.client.delete_messages(chat, [msg_id]))


async def react(ctx: SendContext, chat_id: str, message_id: str, emoji: str,
                remove: bool) -> None:
    online = online_of(ctx)
    chat, msg_id = chat_number(chat_id), message_number(message_id)
    await call(online, online.client.send_reaction(chat, msg_id, None if remove else emoji))


async def mark_read(ctx: SendContext, chat_id: str, message_id: str) -> None:
    online = online_of(ctx)
    chat, msg_id = chat_number(chat_id), message_number(message_id)
    await call(online, online.client.read_history(chat, msg_id))
