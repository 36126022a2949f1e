"""Sessions: converted between the libraries' formats, and kept across a sandbox restart."""

from __future__ import annotations

import base64
import struct

import pytest

from unifyport_telegram.sandbox.testing import (
    pyrogram_session_to_telethon,
    running_sandbox,
    telethon_session_to_pyrogram,
)

from .adapters import KurigramAdapter, TelethonAdapter
from .conftest import login


@pytest.mark.parametrize("lib", ["telethon"])
async def test_telethon_session_converted_to_pyrogram_and_back(sb, make_client):
    user = await sb.control.create_user("+15550300", "Conv")
    tele = make_client(library="telethon")
    await login(sb, tele, "+15550300")
    session = tele.client.session
    dc_id, auth_key = session.dc_id, session.auth_key.key
    await tele.disconnect()

    pyro_string = telethon_session_to_pyrogram(dc_id, auth_key, user["id"])
    assert len(pyro_string) == 362
    kuri = make_client(pyro_string, library="kurigram")
    await kuri.connect()
    assert await kuri.me_id() == user["id"]
    exported = await kuri.session_string()
    await kuri.disconnect()

    host, port = sb.dc_address(dc_id)
    tele_string = pyrogram_session_to_telethon(exported, host, port)
    raw = base64.urlsafe_b64decode(tele_string[1:])
    assert struct.unpack(">B4sH256s", raw)[3] == auth_key
    back = make_client(tele_string, library="telethon")
    await back.connect()
    assert await back.me_id() == user["id"]
    handshakes = [r for r in await sb.control.requests() if r["method"] == "auth.signIn"]
    assert len(handshakes) == 1  # no new login was needed


async def test_session_survives_sandbox_restart(tmp_path, lib):
    state = tmp_path / "state"
    async with running_sandbox(state) as sb:
        user = await sb.control.create_user("+15550310", "Keep")
        client = (TelethonAdapter if lib == "telethon" else KurigramAdapter)(sb)
        await login(sb, client, "+15550310")
        session = await client.session_string()
        await client.disconnect()
        pem = sb.public_key_pem
        friend = await sb.control.create_user("+15550311", "Friend")
        await sb.control.push_message(user["id"], friend["id"], "kept", chat={"title": "G"})
    async with running_sandbox(state) as sb:
        assert sb.public_key_pem == pem
        assert [u["id"] for u in await sb.control.users()] == [user["id"], friend["id"]]
        kept = await sb.control.messages(user["id"])
        assert [(m["text"], m["peer"]["type"]) for m in kept] == [("kept", "chat")]
        again = await sb.control.push_message(
            user["id"], friend["id"], "after", chat={"title": "G"}
        )
        assert again["pts"] == kept[0]["pts"] + 1 and again["peer"] == kept[0]["peer"]
        client = (TelethonAdapter if lib == "telethon" else KurigramAdapter)(sb, session)
        try:
            await client.connect()
            assert await client.me_id() == user["id"]
        finally:
            await client.disconnect()
