"""The Telegram plugin through the shipped channel conformance kit, on both backends, with
the real Telethon / Kurigram against the MTProto sandbox (the contract suite beside this file
stays the detailed check)."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from unifyport.testing.channels import ChannelPeer, StepCall
from unifyport.testing.messaging import MessagingConformance, MessagingPeer, Seen
from unifyport_telegram import plugin as telegram_plugin
from unifyport_telegram.sandbox.testing import RunningSandbox, telethon_client

from .conftest import CREDS, telegram_toml
from .sessions import telethon_login

POLLS = 100


def phone() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


class TelegramPeer(MessagingPeer):
    """The far side is the sandbox: users, codes, QR scans, inboxes, revocation; for the
    messaging tests a real Telethon client logged in as the friend (connected per action)."""

    def __init__(self, sb: RunningSandbox, backend: str) -> None:
        self.sb, self.backend = sb, backend
        self.user: dict[str, Any] = {}
        self.friend: dict[str, Any] | None = None
        self._session = ""

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

    # -- messaging -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        """The friend's Telethon client, connected for one action."""
        friend = await self._friend()
        if not self._session:
            self._session = await telethon_login(self.sb, friend["phone"])
        client = telethon_client(self.sb, self._session, receive_updates=False)
        await client.connect()
        try:
            yield client
        finally:
            await client.disconnect()

    async def _theirs(self, account: dict[str, Any], message_id: str) -> int | None:
        """The id in the friend's box of the account's message ``message_id`` (Telegram
        numbers messages per user)."""
        me, friend = int(account["identity"]["id"]), (await self._friend())["id"]
        uid = next((m["uid"] for m in await self.sb.control.messages(me)
                    if m["id"] == int(message_id)), None)
        return next((m["id"] for m in await self.sb.control.messages(friend)
                     if uid is not None and m["uid"] == uid), None)

    async def fill_chat(self, account: dict[str, Any], texts: list[str]) -> str:
        friend = await self._friend()
        await self.sb.control.push_messages([
            {"to_user_id": int(account["identity"]["id"]), "from_user_id": friend["id"],
             "text": text} for text in texts])
        return str(friend["id"])

    async def send_photo_inbound(self, account: dict[str, Any], chat_id: str, data: bytes,
                                 mime_type: str) -> None:
        photo = io.BytesIO(data)
        photo.name = "photo.png"
        async with self._client() as client:
            await client.send_file(int(account["identity"]["id"]), photo)

    async def _message(self, account: dict[str, Any], message_id: str) -> Any:
        theirs = await self._theirs(account, message_id)
        if theirs is None:
            return None
        async with self._client() as client:
            return await client.get_messages(int(account["identity"]["id"]), ids=theirs)

    async def file_seen(self, account: dict[str, Any], chat_id: str,
                        message_id: str) -> bytes | None:
        theirs = await self._theirs(account, message_id)
        async with self._client() as client:
            msg = await client.get_messages(int(account["identity"]["id"]), ids=theirs)
            return None if msg is None else await client.download_media(msg, file=bytes)

    async def seen(self, account: dict[str, Any], chat_id: str, message_id: str) -> Seen:
        msg = await self._message(account, message_id)
        if msg is None:
            return Seen(deleted=True)
        me = int(account["identity"]["id"])
        recent = getattr(msg.reactions, "recent_reactions", None) or []
        return Seen(text=msg.message, reactions={
            r.reaction.emoticon for r in recent if getattr(r.peer_id, "user_id", 0) == me})

    async def read_seen(self, account: dict[str, Any], chat_id: str, message_id: str) -> bool:
        theirs = await self._theirs(account, message_id)
        async with self._client() as client:
            for dialog in await client.get_dialogs():
                if dialog.id == int(account["identity"]["id"]):
                    return theirs is not None and dialog.dialog.read_outbox_max_id >= theirs
        return False

    async def act(self, account: dict[str, Any], chat_id: str, message_id: str, action: str,
                  value: str = "") -> None:
        from telethon.tl import functions, types

        me, theirs = int(account["identity"]["id"]), await self._theirs(account, message_id)
        assert theirs is not None, "the far side does not have this message"
        async with self._client() as client:
            if action == "edit":
                await client.edit_message(me, theirs, value)
            elif action == "delete":
                await client.delete_messages(me, [theirs], revoke=True)
            elif action == "react":
                await client(functions.messages.SendReactionRequest(
                    peer=me, msg_id=theirs, reaction=[types.ReactionEmoji(value)]))
            else:
                await client.send_read_acknowledge(me, max_id=theirs)

    async def revoke(self, account: dict[str, Any]) -> None:
        assert await self.sb.control.revoke_sessions(int(account["identity"]["id"])) >= 1

    async def session_ended(self, account: dict[str, Any]) -> bool:
        return await self.sb.control.revoke_sessions(int(account["identity"]["id"])) == 0


class TestTelegramConformance(MessagingConformance):
    provider = "telegram"

    @pytest.fixture
    def unifyport_setup(self, sb: RunningSandbox, backend: str, import_dir: Path) -> None:
        self.sb, self.backend = sb, backend
        self.toml = telegram_toml(sb, backend, import_dir)

    def plugin(self) -> object:
        return telegram_plugin

    def peer(self) -> ChannelPeer:
        return TelegramPeer(self.sb, self.backend)
