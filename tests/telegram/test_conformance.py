"""The Telegram plugin through the shipped channel conformance kit, on both backends, with
the real Telethon / Kurigram against the MTProto sandbox (the contract suite beside this file
stays the detailed check)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from unifyport.testing.channels import ChannelConformance, ChannelPeer, StepCall
from unifyport_telegram import plugin as telegram_plugin
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import CREDS, telegram_toml
from .sessions import telethon_login

POLLS = 100


def phone() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


class TelegramPeer(ChannelPeer):
    """The far side is the sandbox: users, codes, QR scans, inboxes, revocation."""

    def __init__(self, sb: RunningSandbox, backend: str) -> None:
        self.sb, self.backend = sb, backend
        self.user: dict[str, Any] = {}
        self.friend: dict[str, Any] | None = None

    async def account_body(self, mode: str) -> dict[str, Any]:
        number = phone()
        self.user = await self.sb.control.create_user(
            number, "Conformance", password="pw-2fa" if mode == "code" else None,
            bot=mode == "bot", username=f"kit_{number[-7:]}_bot" if mode == "bot" else None)
        data: dict[str, Any] = {**CREDS, "backend": self.backend}
        if mode == "code":
            data["phone"] = number
        if mode == "bot":
            data["bot_token"] = self.user["bot_token"]
        return {"provider": "telegram", "auth_mode": mode, "provider_data": data}

    async def login(self, mode: str, account: dict[str, Any], step: StepCall) -> None:
        if mode == "code":
            assert (await step("start", None))["status"] == "awaiting_code"
            code = await self.sb.control.get_code(self.user["phone"])
            assert (await step("code", {"code": code}))["status"] == "awaiting_password"
            assert (await step("password", {"password": "pw-2fa"}))["status"] == "authorized"
        elif mode == "qrcode":
            shown = await step("qr/start", None)
            await self.sb.control.accept_qr(shown["qr"]["url"], self.user["id"])
            for _ in range(POLLS):
                if (await step("qr/check", None))["status"] == "authorized":
                    return
            raise AssertionError("the scan never arrived")
        elif mode == "session":
            session = await telethon_login(self.sb, self.user["phone"])
            await step("import", {"params": {"session_url": session}})
        else:
            await step("import", {"params": {}})

    def wrong_input(self, mode: str) -> list[tuple[str, dict[str, Any]]]:
        if mode == "session":
            return [("import", {"params": {"session_url": "not a session"}})]
        if mode == "bot":
            return [("import", {"params": {"session_url": "x"}})]
        return []

    async def _friend(self) -> dict[str, Any]:
        if self.friend is None:
            self.friend = await self.sb.control.create_user(phone(), "Friend")
        return self.friend

    async def send_inbound(self, account: dict[str, Any], text: str) -> None:
        friend = await self._friend()
        await self.sb.control.push_message(int(account["identity"]["id"]), friend["id"], text)

    async def chat_for_send(self, account: dict[str, Any]) -> str:
        return str((await self._friend())["id"])

    async def saw_sent(self, account: dict[str, Any], chat_id: str, text: str) -> bool:
        inbox = await self.sb.control.messages(int(chat_id))
        return any(m["text"] == text and not m["out"] for m in inbox)

    async def revoke(self, account: dict[str, Any]) -> None:
        assert await self.sb.control.revoke_sessions(int(account["identity"]["id"])) >= 1

    async def session_ended(self, account: dict[str, Any]) -> bool:
        return await self.sb.control.revoke_sessions(int(account["identity"]["id"])) == 0


class TestTelegramConformance(ChannelConformance):
    provider = "telegram"

    @pytest.fixture
    def unifyport_setup(self, sb: RunningSandbox, backend: str, import_dir: Path) -> None:
        self.sb, self.backend = sb, backend
        self.toml = telegram_toml(sb, backend, import_dir)

    def plugin(self) -> object:
        return telegram_plugin

    def peer(self) -> ChannelPeer:
        return TelegramPeer(self.sb, self.backend)
