"""Make real Telethon and Kurigram sessions (strings and ``.session`` files) in the sandbox,
the way a user would have made them before importing them into the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

from unifyport_telegram.sandbox.testing import RunningSandbox, kurigram_client, telethon_client

TIMEOUT = 15


async def telethon_login(sb: RunningSandbox, phone: str, file: Path | None = None) -> str:
    """Log in with Telethon; returns the string session (and fills ``file`` when given)."""
    from telethon.sessions import StringSession

    client = telethon_client(sb, str(file) if file else None)
    try:
        await asyncio.wait_for(client.connect(), TIMEOUT)
        sent = await asyncio.wait_for(client.send_code_request(phone), TIMEOUT)
        code = await sb.control.get_code(phone)
        await asyncio.wait_for(
            client.sign_in(phone, code, phone_code_hash=sent.phone_code_hash), TIMEOUT)
        client.session.save()
        return str(StringSession.save(client.session))
    finally:
        await client.disconnect()


async def kurigram_login(sb: RunningSandbox, phone: str, workdir: Path | None = None) -> str:
    """Log in with Kurigram; returns the session string (and writes
    ``<workdir>/kurigram.session`` when given)."""
    kwargs = {"workdir": str(workdir), "in_memory": False} if workdir else {}
    app = kurigram_client(sb, "kurigram", **kwargs)
    await asyncio.wait_for(app.connect(), TIMEOUT)
    try:
        sent = await asyncio.wait_for(app.send_code(phone), TIMEOUT)
        code = await sb.control.get_code(phone)
        await asyncio.wait_for(app.sign_in(phone, sent.phone_code_hash, code), TIMEOUT)
        return str(await app.export_session_string())
    finally:
        await asyncio.wait_for(app.disconnect(), TIMEOUT)
