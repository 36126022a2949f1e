"""The ``telegram`` provider: auth modes, step dispatch, runtime and sending."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from unifyport.auth.states import AuthStep
from unifyport.providers import AuthModeSpec, FieldSpec, RuntimeContext, StepContext, StepResult

from .backend import make_client
from .config import BACKENDS, TelegramConfig
from .errors import TelegramError
from .flows import AuthFlows
from .runtime import Runtimes
from .session_data import SessionData

log = logging.getLogger(__name__)
E164 = r"\+[1-9][0-9]{6,14}"

_API_ID = FieldSpec("api_id", "integer", description="Telegram App ID from my.telegram.org.")
_API_HASH = FieldSpec("api_hash", secret=True, pattern=r"[0-9A-Za-z]{8,64}",
                      description="Telegram App Hash from my.telegram.org.")
_BACKEND = FieldSpec("backend", required=False, pattern="|".join(BACKENDS),
                     description="Client library for this account: telethon or pyrogram "
                                 "(default: [plugins.telegram] backend).")
_COMMON = (_API_ID, _API_HASH, _BACKEND)

AUTH_MODES: tuple[AuthModeSpec, ...] = (
    AuthModeSpec(
        "code", "Verification code sent by Telegram (SMS or in-app), then 2FA if enabled.",
        (*_COMMON, FieldSpec("phone", pattern=E164,
                             description="E.164 phone number of the account.")),
        frozenset({AuthStep.START, AuthStep.CODE, AuthStep.PASSWORD}),
    ),
    AuthModeSpec(
        "qrcode", "QR code scanned in the Telegram app, then 2FA if enabled.", _COMMON,
        frozenset({AuthStep.QR_START, AuthStep.QR_CHECK, AuthStep.PASSWORD}),
    ),
    AuthModeSpec(
        "session", "Import an existing Telethon or Pyrogram session (file or string).",
        (*_COMMON, FieldSpec("session_url", secret=True, location="params",
                             description="https:// URL, file:// path inside the import "
                                         "directory, or the session string itself.")),
        frozenset({AuthStep.IMPORT}),
    ),
    AuthModeSpec(
        "bot", "Log a bot in with its token (the import step).",
        (*_COMMON, FieldSpec("bot_token", secret=True, pattern=r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}",
                             description="Bot token from @BotFather.")),
        frozenset({AuthStep.IMPORT}),
    ),
)


class TelegramProvider:
    name = "telegram"
    description = "Telegram user accounts and bots over MTProto (Telethon or Pyrogram)."
    auth_modes: tuple[AuthModeSpec, ...] = AUTH_MODES

    def __init__(self, cfg: TelegramConfig) -> None:
        self.cfg = cfg
        self.flows = AuthFlows(cfg)
        self.runtimes = Runtimes(cfg)

    async def run_step(self, step: AuthStep, ctx: StepContext) -> StepResult:
        return await self.flows.run(step, ctx)

    async def run_runtime(self, ctx: RuntimeContext) -> None:
        await self.runtimes.run(ctx)

    async def send_message(self, account_id: str, chat_id: str, text: str,
                           reply_to_id: str | None) -> Mapping[str, Any]:
        return await self.runtimes.send_message(account_id, chat_id, text, reply_to_id)

    async def logout(self, account_id: str, provider_data: Mapping[str, Any],
                     session: bytes | None) -> None:
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
        await self.flows.aclose()
        await self.runtimes.aclose()
