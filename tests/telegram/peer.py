"""A real Telethon client logged into the sandbox: the other side of a chat in the messaging
tests (it sends, edits, reacts, reads and deletes as a person's app would)."""

from __future__ import annotations

import asyncio
from typing import Any

from unifyport_telegram.sandbox.testing import RunningSandbox, telethon_client

TIMEOUT = 20


class Peer:
    """The peer's client and every raw update it receives."""

    def __init__(self, client: Any, user: dict[str, Any]) -> None:
        self.client = client
        self.user = user
        self.id = int(user["id"])
        self.seen: list[Any] = []

    async def _on_raw(self, update: Any) -> None:
        self.seen.append(update)

    async def next(self, name: str) -> Any:
        """The first not yet taken update of TL class ``name`` (bounded wait)."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                for update in self.seen:
                    if type(update).__name__ == name:
                        self.seen.remove(update)
                        return update
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        await asyncio.wait_for(self.client.disconnect(), TIMEOUT)


async def peer(sb: RunningSandbox, phone: str, name: str) -> Peer:
    """Create a sandbox user and log a Telethon client in as them (code login)."""
    from telethon import events

    user = await sb.control.create_user(phone, name)
    client = telethon_client(sb)
    await asyncio.wait_for(client.connect(), TIMEOUT)
    sent = await client.send_code_request(phone)
    await client.sign_in(phone, await sb.control.get_code(phone),
                         phone_code_hash=sent.phone_code_hash)
    found = Peer(client, user)
    client.add_event_handler(found._on_raw, events.Raw)
    return found
