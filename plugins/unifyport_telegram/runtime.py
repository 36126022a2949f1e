"""Online clients: one per account, updates -> ``message.received``, sending, catch-up."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from unifyport.sdk import (
    ErrorKind,
    Message,
    MessageUpdate,
    OutgoingMessage,
    RuntimeContext,
    RuntimeStatus,
    SendContext,
    SessionRevoked,
    StepError,
)

from .backend import Me, RawBatch, TelegramClient
from .clients import make_client
from .config import TelegramConfig
from .errors import TelegramError
from .normalise import normalise
from .session_data import SessionData, UpdateState
from .updates import to_updates

log = logging.getLogger(__name__)
T = TypeVar("T")
STATE_SAVE_INTERVAL = 2.0
"""Seconds between saves of the update state (a crash re-delivers at most this much)."""
_SEEN = 2048
INT64 = (-(2**63), 2**63 - 1)
MAX_QUEUED = 1000
"""Messages waiting to be stored before the update callback itself waits for the writer."""


class Online:
    """One account's connected client and its update bookkeeping."""

    def __init__(self, ctx: RuntimeContext, client: TelegramClient, session: SessionData
                 ) -> None:
        self.ctx = ctx
        self.client = client
        self.session = session
        """The session as last stored (its ``state`` is the stored update state)."""
        self.state = session.state
        self.self_id = session.user_id
        self.me: Me | None = None
        self.titles: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.revoked: TelegramError | None = None
        self.ready = False
        self.revoked_event = asyncio.Event()
        self._seen: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._pending: list[tuple[list[dict[str, Any]], list[MessageUpdate],
                                  UpdateState | None]] = []
        self._queued = 0
        self._wake = asyncio.Event()
        self.advanced = asyncio.Event()
        """Set when the update state moves; the saver sleeps until then (an idle account's
        client never wakes for it)."""
        self._flushing = asyncio.Lock()

    def remember(self, chat_id: str, msg_id: str) -> bool:
        """False when the message was already delivered in this run."""
        key = (chat_id, msg_id)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _SEEN:
            self._seen.popitem(last=False)
        return True

    def note_title(self, message: Mapping[str, Any]) -> None:
        chat = message["chat"]
        if chat.get("title"):
            self.titles[chat["id"]] = chat["title"]
            self.titles.move_to_end(chat["id"])
            if len(self.titles) > _SEEN:
                self.titles.popitem(last=False)

    def complete(self, message: dict[str, Any]) -> dict[str, Any]:
        """Fill what Telegram leaves out of a sent message's answer (own name, chat title)."""
        me, sender = self.me, message.get("sender")
        if me is not None and sender and sender.get("id") == str(me.id):
            sender.update(display_name=sender.get("display_name") or me.display_name,
                          username=sender.get("username") or me.username)
        chat = message["chat"]
        if not chat.get("title"):
            chat["title"] = self.titles.get(chat["id"])
        return message

    def advance(self, state: UpdateState | None) -> None:
        if state is not None and (self.state is None or state.pts >= self.state.pts):
            self.state = state
            self.advanced.set()

    async def on_batch(self, batch: RawBatch) -> None:
        """Queue a batch's new incoming messages for the writer (which stores them in one
        transaction per drain); the update state advances only once they are stored."""
        messages: list[dict[str, Any]] = []
        for raw in batch.messages:
            if getattr(raw, "out", False):
                continue  # sent by this account (from here or another device)
            try:
                message = normalise(raw, batch.users, batch.chats, self.self_id)
            except Exception:
                log.exception("cannot normalise a message")
                continue
            if message is None or not self.remember(message["chat"]["id"], message["id"]):
                continue
            self.note_title(message)
            messages.append(message)
        updates: list[MessageUpdate] = []
        for raw in batch.others:
            try:
                updates.extend(to_updates(raw, batch.users, batch.chats, self.self_id))
            except Exception:
                log.exception("cannot read an update about a message")
        self._pending.append((messages, updates, batch.state))
        self._queued += len(messages) + len(updates)
        self._wake.set()
        if self._queued >= MAX_QUEUED:
            await self.flush()  # back-pressure on the library's update loop

    async def flush(self) -> None:
        """Store every queued message (in arrival order), then advance the update state.

        The core stores the flushes of many accounts in one transaction (a group commit);
        messages queued while a flush waits join the next one."""
        async with self._flushing:
            pending, self._pending, self._queued = self._pending, [], 0
            await self.ctx.received([Message.model_validate(m)
                                     for messages, _, _ in pending for m in messages])
            updates = [u.event("telegram") for _, found, _ in pending for u in found]
            if updates:
                await self.ctx.emit_many(updates)
            for _, _, state in pending:
                self.advance(state)

    async def writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def save_state(self) -> None:
        if self.state is not None and self.state != self.session.state:
            session = self.session.with_state(self.state)
            await self.ctx.save_session(session.to_bytes())
            self.session = session

    def mark_revoked(self, err: TelegramError) -> None:
        self.revoked = err
        self.revoked_event.set()


class Runtimes:
    """Runs accounts' clients; the core keeps which one runs where (``ctx.attach``)."""

    def __init__(self, cfg: TelegramConfig) -> None:
        self.cfg = cfg
        self.heartbeats = 0
        """Clients of this process whose heartbeat runs (its tick depends on how many)."""

    async def run(self, ctx: RuntimeContext) -> None:
        try:
            session = SessionData.from_bytes(ctx.session)
        except (ValueError, KeyError, TypeError):
            raise SessionRevoked("invalid_session", "the stored session is unreadable") from None
        client = make_client(self.cfg, ctx.provider_data, session)
        online = Online(ctx, client, session)
        try:
            await self._serve(online)
        except TelegramError as err:
            if err.revoked:
                raise SessionRevoked(err.code, err.message) from None
            raise
        finally:
            await client.disconnect()
            with contextlib.suppress(Exception):
                await online.flush()
                await online.save_state()

    async def _serve(self, online: Online) -> None:
        client = online.client
        client.on_updates(online.on_batch)
        await client.connect()
        me = await client.get_me()
        online.self_id, online.me = me.id, me
        if online.state is not None:
            for batch in await client.get_difference(online.state):
                await online.on_batch(batch)
            await online.flush()
        else:
            online.advance(await client.get_state())
        await online.save_state()
        online.ready = True
        online.ctx.attach(online)
        await online.ctx.set_status(RuntimeStatus.RUNNING)
        client.heartbeat_taken_over()  # _probe keeps the connection alive from now on
        tasks = [asyncio.create_task(client.wait_disconnected()),
                 asyncio.create_task(self._probe(online)),
                 asyncio.create_task(self._saver(online)),
                 asyncio.create_task(online.writer()),
                 asyncio.create_task(online.revoked_event.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if online.revoked is not None:
            raise online.revoked
        for task in done:
            task.result()
        raise TelegramError("provider_unavailable", "disconnected from Telegram",
                            kind=ErrorKind.UNAVAILABLE)

    async def _probe(self, online: Online) -> None:
        """The client's heartbeat, its only keep-alive besides TCP's (the backends turn the
        libraries' own pings off): one request a tick, the probe (``updates.getState``: a
        revoked session shows up here) when at least ``probe_interval`` seconds of ticks
        have passed since the last one, else a ``ping``. A tick is ``cfg.heartbeat``
        seconds, longer while more clients run here than ``heartbeat_rate`` allows
        (``cfg.tick``, looked at again every tick). The first tick comes at a random point
        of the second half of the first interval: clients started in the same second do
        not probe in the same second ever after."""
        self.heartbeats += 1
        try:
            tick = since = self.cfg.tick(self.heartbeats)
            await asyncio.sleep(tick * random.uniform(0.5, 1.0))
            while True:
                if self.cfg.probe_due(since, tick):
                    await online.client.get_state()
                    since = 0.0
                else:
                    await online.client.ping()
                tick = self.cfg.tick(self.heartbeats)
                await asyncio.sleep(tick)
                since += tick
        finally:
            self.heartbeats -= 1

    async def _saver(self, online: Online) -> None:
        while True:
            await online.advanced.wait()
            await asyncio.sleep(STATE_SAVE_INTERVAL)
            online.advanced.clear()
            await online.save_state()

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        online = online_of(ctx)
        chat = chat_number(message.chat_id)
        reply = None if message.reply_to_id is None else message_number(message.reply_to_id,
                                                                        "reply_to_id")
        return first_message(online, await call(
            online, online.client.send_message(chat, message.text, reply)))


def online_of(ctx: SendContext) -> Online:
    """The account's online client, or 409 ``runtime_not_running``."""
    online = ctx.client
    if not isinstance(online, Online) or not online.ready:
        raise StepError("runtime_not_running", "the account is not online yet")
    return online


def chat_number(chat_id: str) -> int:
    """A chat id as Telegram's marked 64-bit id (422 otherwise)."""
    try:
        chat = int(chat_id)
    except ValueError:
        raise StepError("validation_failed", "chat_id must be a numeric id") from None
    if not INT64[0] <= chat <= INT64[1] or chat == 0:
        raise StepError("validation_failed", "chat_id must be a non-zero 64-bit id")
    return chat


def message_number(message_id: str | None, what: str = "message_id") -> int:
    """A message id as Telegram's positive 32-bit id (422 otherwise)."""
    try:
        value = int(message_id or "")
    except ValueError:
        raise StepError("validation_failed", f"{what} must be a numeric id") from None
    if not 0 < value < 2**31:
        raise StepError("validation_failed", f"{what} must be a positive 32-bit id")
    return value


async def call(online: Online, aw: Awaitable[T]) -> T:
    """Await a backend call; its :class:`TelegramError` becomes the API's error (a dead
    session also stops the runtime)."""
    try:
        return await aw
    except TelegramError as err:
        if err.revoked:
            online.mark_revoked(err)
        raise err.to_step_error() from None


def first_message(online: Online, batch: RawBatch) -> Message:
    """The first message of a backend's answer, normalised (and remembered as seen)."""
    for raw in batch.messages:
        found = normalise(raw, batch.users, batch.chats, online.self_id)
        if found is not None:
            online.remember(found["chat"]["id"], found["id"])
            return Message.model_validate(online.complete(found))
    raise StepError("provider_unavailable", "Telegram did not return the message",
                    kind=ErrorKind.UPSTREAM)
