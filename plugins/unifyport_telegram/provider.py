"""The ``telegram`` provider: its declared auth modes, step dispatch, runtime and sending."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from unifyport.sdk import (
    AttachmentStream,
    AuthMode,
    ChatSummary,
    Message,
    Outbound,
    OutgoingMessage,
    Page,
    Provider,
    RuntimeContext,
    SendContext,
    StepContext,
    StepResult,
)

from . import messaging
from .clients import make_client
from .config import TelegramConfig
from .declaration import AUTH_MODES
from .errors import TelegramError
from .flows import AuthFlows
from .runtime import Runtimes
from .session_data import SessionData

log = logging.getLogger(__name__)


class TelegramProvider(Provider):
    name = "telegram"
    description = "Telegram user accounts and bots over MTProto (Telethon or Pyrogram)."
    auth_modes: tuple[AuthMode, ...] = AUTH_MODES
    text_limit = 4096
    capabilities = frozenset({"receive", "send", "logout", "revocation", "chats", "history",
                              "media", "download", "edit", "delete", "react", "read"})

    def __init__(self, cfg: TelegramConfig) -> None:
        self.cfg = cfg
        self.flows = AuthFlows(cfg)
        self.runtimes = Runtimes(cfg)

    async def run_step(self, step: str, ctx: StepContext) -> StepResult:
        return await self.flows.run(step, ctx)

    async def discard(self, account_id: str) -> None:
        await self.flows.drop_qr(account_id)

    async def run_runtime(self, ctx: RuntimeContext) -> None:
        await self.runtimes.run(ctx)

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        if not message.attachments:
            return await self.runtimes.send(ctx, message)
        return await messaging.send_files(ctx, message)

    async def list_chats(self, ctx: SendContext, limit: int,
                         cursor: str | None) -> Page[ChatSummary]:
        return await messaging.list_chats(ctx, limit, cursor)

    async def history(self, ctx: SendContext, chat_id: str, limit: int,
                      cursor: str | None) -> Page[Message]:
        return await messaging.history(ctx, chat_id, limit, cursor)

    async def download(self, ctx: SendContext, chat_id: str, message_id: str,
                       index: int) -> AttachmentStream:
        return await messaging.download(ctx, chat_id, message_id, index)

    async def edit(self, ctx: SendContext, chat_id: str, message_id: str,
                   text: str) -> Message:
        return await messaging.edit(ctx, chat_id, message_id, text)

    async def delete(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        await messaging.delete(ctx, chat_id, message_id)

    async def react(self, ctx: SendContext, chat_id: str, message_id: str, emoji: str,
                    remove: bool = False) -> None:
        await messaging.react(ctx, chat_id, message_id, emoji, remove)

    async def mark_read(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        await messaging.mark_read(ctx, chat_id, message_id)

    async def logout(self, account_id: str, provider_data: Mapping[str, Any],
                     session: bytes | None, *, outbound: Outbound | None = None) -> None:
        if session is None:
            return
        client = make_client(self.cfg, provider_data, SessionData.from_bytes(session))
        try:
            await client.connect()
            await client.log_out()
        except TelegramError as err:
            log.info("account %s: logout at Telegram failed: %s", account_id, err.code)
        finally:
            await client.disconnect()

    async def aclose(self) -> None:
        await self.flows.aclose()  # runtimes end with their tasks, which the core cancels
