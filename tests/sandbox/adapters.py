"""One interface over Telethon and Kurigram so every sandbox test runs against both."""

from __future__ import annotations

import asyncio
from typing import Any

from unifyport_telegram.sandbox.testing import (
    API_HASH,
    API_ID,
    RunningSandbox,
    kurigram_client,
    kurigram_complete_login,
    kurigram_switch_dc,
    telethon_client,
)

TIMEOUT = 15


def error_name(exc: BaseException) -> str:
    """Telegram's error name carried by either library's exception."""
    name = getattr(exc, "ID", None)  # Kurigram: class attribute like "FLOOD_WAIT_X"
    if name:
        return str(name)
    value = getattr(exc, "value", None)
    if isinstance(value, str) and value.startswith("["):  # Kurigram, unknown: "[400 NAME]"
        import re

        match = re.search(r"\[\d+ ([A-Z0-9_]+)\]", value)
        return match.group(1) if match else ""
    from telethon.errors.rpcerrorlist import rpc_errors_dict, rpc_errors_re

    for key, cls in rpc_errors_dict.items():  # Telethon: known errors have their own class
        if type(exc) is cls:
            return str(key)
    for pattern, cls in rpc_errors_re:
        if type(exc) is cls:
            return str(pattern).replace("(\\d+)", "X")
    return str(getattr(exc, "message", ""))  # unknown names are kept as the message


def flood_seconds(exc: BaseException) -> int:
    """Seconds of a flood wait error."""
    return int(getattr(exc, "seconds", None) or getattr(exc, "value", 0))


class TelethonAdapter:
    """Drives a Telethon ``TelegramClient``."""

    name = "telethon"

    def __init__(self, sb: RunningSandbox, session: Any = None, **kwargs: Any) -> None:
        self.sb = sb
        self.client = telethon_client(sb, session, **kwargs)
        self._qr: Any = None

    async def connect(self) -> None:
        await asyncio.wait_for(self.client.connect(), TIMEOUT)

    async def disconnect(self) -> None:
        if self.client.is_connected():
            await asyncio.wait_for(self.client.disconnect(), TIMEOUT)

    async def send_code(self, phone: str) -> str:
        sent = await self.client.send_code_request(phone)
        return str(sent.phone_code_hash)

    async def sign_in(self, phone: str, code_hash: str, code: str) -> int:
        me = await self.client.sign_in(phone, code, phone_code_hash=code_hash)
        return int(me.id)

    async def check_password(self, password: str) -> int:
        return int((await self.client.sign_in(password=password)).id)

    async def bot_login(self, token: str) -> int:
        return int((await self.client.sign_in(bot_token=token)).id)

    async def me_id(self) -> int:
        from telethon.tl import functions, types

        users = await self.client(functions.users.GetUsersRequest([types.InputUserSelf()]))
        return int(users[0].id)

    async def qr_start(self) -> bytes:
        self._qr = await self.client.qr_login()
        return bytes(self._qr.token)

    async def qr_wait(self) -> int:
        user = await self._qr.wait(TIMEOUT)
        return int(user.id)

    async def start_updates(self) -> None:
        """Telethon processes updates as soon as it is connected."""

    def on_message(self, callback: Any) -> None:
        from telethon import events

        async def handler(event: Any) -> None:
            callback(event.raw_text)

        self.client.add_event_handler(handler, events.NewMessage(incoming=True))

    async def send_message(self, username: str, text: str) -> int:
        msg = await self.client.send_message(username, text)
        return int(msg.id)

    async def session_string(self) -> str:
        from telethon.sessions import StringSession

        return str(StringSession.save(self.client.session))

    async def call_unimplemented(self) -> None:
        from telethon.tl import functions

        await self.client(functions.account.GetAuthorizationsRequest())


class KurigramAdapter:
    """Drives a Kurigram (``pyrogram``) ``Client``."""

    name = "kurigram"

    def __init__(self, sb: RunningSandbox, session: Any = None, **kwargs: Any) -> None:
        self.sb = sb
        if session is not None:
            kwargs["session_string"] = session
        self.client = kurigram_client(sb, **kwargs)
        self._token: bytes = b""
        self._token_event = asyncio.Event()

    async def connect(self) -> None:
        await asyncio.wait_for(self.client.connect(), TIMEOUT)

    async def disconnect(self) -> None:
        if self.client.is_initialized:
            await asyncio.wait_for(self.client.terminate(), TIMEOUT)
        if self.client.is_connected:
            await asyncio.wait_for(self.client.disconnect(), TIMEOUT)

    async def send_code(self, phone: str) -> str:
        sent = await asyncio.wait_for(self.client.send_code(phone), TIMEOUT)
        return str(sent.phone_code_hash)

    async def sign_in(self, phone: str, code_hash: str, code: str) -> int:
        user = await asyncio.wait_for(self.client.sign_in(phone, code_hash, code), TIMEOUT)
        return int(user.id)

    async def check_password(self, password: str) -> int:
        return int((await asyncio.wait_for(self.client.check_password(password), TIMEOUT)).id)

    async def bot_login(self, token: str) -> int:
        return int((await asyncio.wait_for(self.client.sign_in_bot(token), TIMEOUT)).id)

    async def me_id(self) -> int:
        return int((await asyncio.wait_for(self.client.get_me(), TIMEOUT)).id)

    async def _export(self) -> Any:
        from pyrogram import raw

        req = raw.functions.auth.ExportLoginToken(api_id=API_ID, api_hash=API_HASH, except_ids=[])
        return await asyncio.wait_for(self.client.invoke(req), TIMEOUT)

    async def qr_start(self) -> bytes:
        from pyrogram import handlers, raw

        async def on_raw(_client: Any, update: Any, _users: Any, _chats: Any) -> None:
            if isinstance(update, raw.types.UpdateLoginToken):
                self._token_event.set()

        await self.start_updates()
        self.client.add_handler(handlers.RawUpdateHandler(on_raw))
        await asyncio.sleep(0)  # Kurigram adds handlers in a task
        result = await self._export()
        self._token = bytes(result.token)
        return self._token

    async def qr_wait(self) -> int:
        from pyrogram import raw

        await asyncio.wait_for(self._token_event.wait(), TIMEOUT)
        result = await self._export()
        if isinstance(result, raw.types.auth.LoginTokenMigrateTo):
            await kurigram_switch_dc(self.client, result.dc_id)
            req = raw.functions.auth.ImportLoginToken(token=result.token)
            result = await asyncio.wait_for(self.client.invoke(req), TIMEOUT)
        assert isinstance(result, raw.types.auth.LoginTokenSuccess), result
        return await kurigram_complete_login(self.client, result.authorization)

    async def start_updates(self) -> None:
        """Kurigram dispatches handlers only once initialised."""
        if not self.client.is_initialized:
            await asyncio.wait_for(self.client.initialize(), TIMEOUT)

    def on_message(self, callback: Any) -> None:
        from pyrogram import filters, handlers

        async def handler(_client: Any, message: Any) -> None:
            callback(message.text)

        self.client.add_handler(handlers.MessageHandler(handler, filters.incoming))

    async def send_message(self, username: str, text: str) -> int:
        msg = await asyncio.wait_for(self.client.send_message(username, text), TIMEOUT)
        return int(msg.id)

    async def session_string(self) -> str:
        return str(await self.client.export_session_string())

    async def call_unimplemented(self) -> None:
        from pyrogram import raw

        req = raw.functions.account.GetAuthorizations()
        await asyncio.wait_for(self.client.invoke(req), TIMEOUT)


ADAPTERS: dict[str, type[TelethonAdapter] | type[KurigramAdapter]] = {
    "telethon": TelethonAdapter,
    "kurigram": KurigramAdapter,
}
