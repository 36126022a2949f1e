"""Dialogs, history, media, edits, deletions, reactions and read state, written once for both
libraries over raw TL requests.

A backend provides :meth:`MessagingCalls._rpc` (one raw request by its TL name, e.g.
``messages.GetDialogs``, already timed out and translated), ``_t`` (its library's TL types
namespace), ``_input_peer`` and ``iter_file`` (downloads: files on another DC need the
library's own machinery; :meth:`MessagingCalls._download` serves the client's own DC).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import anyio

from ..backend import FileLocation, RawBatch, RawDialogs, Upload
from ..normalise import marked_id, unmark
from . import raw_tl

T = TypeVar("T")
CHUNK = 512 * 1024
"""Upload part and download chunk size (Telegram's largest part; it divides 1 MB)."""
BIG_FILE = 10 * 1024 * 1024
"""Files above this are uploaded with ``upload.saveBigFilePart``."""
IN_FLIGHT = 3
"""Upload parts sent before the first answer is awaited (each holds 512 KB)."""
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_PHOTO = 10 * 1024 * 1024
"""Larger images go as documents (Telegram refuses bigger photos)."""


async def next_or_none(chunks: AsyncIterator[T]) -> T | None:
    """The next item, ``None`` at the end."""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


def random_id() -> int:
    return int.from_bytes(os.urandom(8), "big", signed=True)


def _batch(res: Any) -> RawBatch:
    return RawBatch(list(getattr(res, "messages", [])), {u.id: u for u in res.users},
                    {c.id: c for c in res.chats}, None)


class MessagingCalls:
    """The messaging methods of :class:`unifyport_telegram.backend.TelegramClient`."""

    _t: Any
    _user_id: int | None

    async def _rpc(self, name: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _input_peer(self, chat_id: int) -> Any:
        raise NotImplementedError

    async def _upload_file(self, upload: Upload) -> Any:
        """Upload in 512 KB parts read from disk, at most :data:`IN_FLIGHT` parts at a time;
        the ``InputFile``/``InputFileBig`` to send."""
        t, big = self._t, upload.size > BIG_FILE
        parts, file_id = max(1, math.ceil(upload.size / CHUNK)), random_id()
        md5 = hashlib.md5(usedforsecurity=False)
        pending: list[asyncio.Task[Any]] = []
        try:
            async with await anyio.open_file(upload.path, "rb") as f:
                for part in range(parts):
                    data = await f.read(CHUNK)
                    if big:
                        call = self._rpc("upload.SaveBigFilePart", file_id=file_id,
                                         file_part=part, file_total_parts=parts, bytes=data)
                    else:
                        md5.update(data)
                        call = self._rpc("upload.SaveFilePart", file_id=file_id,
                                         file_part=part, bytes=data)
                    pending.append(asyncio.ensure_future(call))
                    if len(pending) >= IN_FLIGHT:
                        await pending.pop(0)
            for task in pending:
                await task
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if big:
            return t.InputFileBig(id=file_id, parts=parts, name=upload.file_name)
        return t.InputFile(id=file_id, parts=parts, name=upload.file_name,
                           md5_checksum=md5.hexdigest())

    async def _download(self, loc: FileLocation) -> AsyncIterator[bytes]:
        """The file in 512 KB chunks from this client's own DC, one request at a time."""
        location, offset = self._location(loc), 0
        while True:
            res = await self._rpc("upload.GetFile", location=location, offset=offset,
                                  limit=CHUNK)
            if res.bytes:
                yield bytes(res.bytes)
            offset += len(res.bytes)
            if len(res.bytes) < CHUNK:
                return

    async def _channel(self, chat_id: int) -> Any | None:
        """The ``InputChannel`` of a channel id, ``None`` for users and basic groups."""
        if unmark(chat_id)[0] != "channel":
            return None
        peer = await self._input_peer(chat_id)
        return self._t.InputChannel(channel_id=peer.channel_id, access_hash=peer.access_hash)

    def _location(self, loc: FileLocation) -> Any:
        t = self._t
        if loc.kind == "photo":
            return t.InputPhotoFileLocation(id=loc.id, access_hash=loc.access_hash,
                                            file_reference=loc.file_reference,
                                            thumb_size=loc.thumb_size)
        return t.InputDocumentFileLocation(id=loc.id, access_hash=loc.access_hash,
                                           file_reference=loc.file_reference, thumb_size="")

    async def get_dialogs(self, limit: int, offset: tuple[int, int, int] | None) -> RawDialogs:
        t = self._t
        date, offset_id, peer = offset or (0, 0, 0)
        offset_peer = await self._input_peer(peer) if peer else t.InputPeerEmpty()
        res = await self._rpc("messages.GetDialogs", offset_date=date, offset_id=offset_id,
                              offset_peer=offset_peer, limit=limit, hash=0)
        dialogs = [d for d in res.dialogs if type(d).__name__ == "Dialog"]
        more = type(res).__name__ == "DialogsSlice" and len(dialogs) >= limit
        return RawDialogs(dialogs, _batch(res), more)

    async def get_history(self, chat_id: int, limit: int, offset_id: int) -> RawBatch:
        res = await self._rpc("messages.GetHistory", peer=await self._input_peer(chat_id),
                              offset_id=offset_id, offset_date=0, add_offset=0, limit=limit,
                              max_id=0, min_id=0, hash=0)
        return _batch(res)

    async def get_messages(self, chat_id: int, ids: list[int]) -> RawBatch:
        wanted = [self._t.InputMessageID(id=i) for i in ids]
        channel = await self._channel(chat_id)
        if channel is not None:
            return _batch(await self._rpc("channels.GetMessages", channel=channel, id=wanted))
        batch = _batch(await self._rpc("messages.GetMessages", id=wanted))
        # messages.getMessages looks in the whole box: keep the ones of this chat
        mine = [m for m in batch.messages
                if type(m).__name__ == "Message" and marked_id(m.peer_id) == chat_id]
        return RawBatch(mine, batch.users, batch.chats, None)

    def _input_media(self, upload: Upload, file: Any) -> Any:
        t = self._t
        if upload.kind == "image" and upload.mime_type in PHOTO_TYPES \
                and upload.size <= MAX_PHOTO:
            return t.InputMediaUploadedPhoto(file=file)
        attributes = [t.DocumentAttributeFilename(file_name=upload.file_name)]
        if upload.kind == "video":
            attributes.append(t.DocumentAttributeVideo(duration=0, w=0, h=0))
        elif upload.kind in ("audio", "voice"):
            attributes.append(t.DocumentAttributeAudio(duration=0,
                                                       voice=upload.kind == "voice"))
        return t.InputMediaUploadedDocument(file=file, mime_type=upload.mime_type,
                                            attributes=attributes,
                                            force_file=upload.kind == "file" or None)

    async def send_media(self, chat_id: int, upload: Upload, caption: str,
                         reply_to: int | None) -> RawBatch:
        t = self._t
        peer = await self._input_peer(chat_id)
        media = self._input_media(upload, await self._upload_file(upload))
        reply = t.InputReplyToMessage(reply_to_msg_id=reply_to) if reply_to else None
        res = await self._rpc("messages.SendMedia", peer=peer, media=media, message=caption,
                              random_id=random_id(), reply_to=reply)
        return raw_tl.sent_batch(t, res, peer, caption, reply_to, self._user_id)

    async def edit_message(self, chat_id: int, msg_id: int, text: str) -> RawBatch:
        res = await self._rpc("messages.EditMessage", peer=await self._input_peer(chat_id),
                              id=msg_id, message=text)
        updates = list(getattr(res, "updates", []))
        edited = [u.message for u in updates if type(u).__name__ in
                  ("UpdateEditMessage", "UpdateEditChannelMessage")]
        return RawBatch(edited, {u.id: u for u in getattr(res, "users", [])},
                        {c.id: c for c in getattr(res, "chats", [])}, None)

    async def delete_messages(self, chat_id: int, ids: list[int]) -> None:
        channel = await self._channel(chat_id)
        if channel is not None:
            await self._rpc("channels.DeleteMessages", channel=channel, id=ids)
        else:
            await self._rpc("messages.DeleteMessages", id=ids, revoke=True)

    async def send_reaction(self, chat_id: int, msg_id: int, emoji: str | None) -> None:
        reaction = [self._t.ReactionEmoji(emoticon=emoji)] if emoji else []
        await self._rpc("messages.SendReaction", peer=await self._input_peer(chat_id),
                        msg_id=msg_id, reaction=reaction)

    async def read_history(self, chat_id: int, max_id: int) -> None:
        channel = await self._channel(chat_id)
        if channel is not None:
            await self._rpc("channels.ReadHistory", channel=channel, max_id=max_id)
        else:
            await self._rpc("messages.ReadHistory", peer=await self._input_peer(chat_id),
                            max_id=max_id)
