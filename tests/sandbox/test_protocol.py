"""Protocol details: transports, TL layers, wrappers, the CLI and the control API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from .conftest import login

ROOT = Path(__file__).resolve().parents[2]


def test_tl_layers_match():
    from pyrogram.raw.all import layer as pyrogram_layer
    from telethon.tl.alltlobjects import LAYER as telethon_layer

    assert telethon_layer == pyrogram_layer


@pytest.mark.parametrize("transport", ["full", "abridged", "intermediate"])
@pytest.mark.parametrize("lib", ["telethon"])
async def test_telethon_transports(sb, make_client, transport):
    from telethon import connection

    kinds = {
        "full": connection.ConnectionTcpFull,
        "abridged": connection.ConnectionTcpAbridged,
        "intermediate": connection.ConnectionTcpIntermediate,
    }
    user = await sb.control.create_user("+15550400", "T")
    client = make_client(library="telethon", connection=kinds[transport])
    assert await login(sb, client, "+15550400") == user["id"]
    assert {c.codec.kind for c in sb.sandbox.connections} == {
        {"intermediate": "intermediate"}.get(transport, transport)
    }


@pytest.mark.parametrize(
    "transport", ["TCPAbridged", "TCPIntermediate", "TCPIntermediatePadded", "TCPFull"]
)
@pytest.mark.parametrize("lib", ["kurigram"])
async def test_kurigram_transports(sb, make_client, transport):
    from pyrogram.connection import transport as kt

    user = await sb.control.create_user("+15550401", "K")
    client = make_client(library="kurigram", protocol_factory=getattr(kt, transport))
    assert await login(sb, client, "+15550401") == user["id"]
    expected = {
        "TCPAbridged": "abridged",
        "TCPIntermediate": "intermediate",
        "TCPIntermediatePadded": "padded_intermediate",
        "TCPFull": "full",
    }[transport]
    assert {c.codec.kind for c in sb.sandbox.connections} == {expected}


@pytest.mark.parametrize("lib", ["kurigram"])
async def test_kurigram_wrong_salt_answered_with_bad_server_salt(sb, make_client):
    await sb.control.create_user("+15550402", "S")
    client = make_client(library="kurigram")
    await login(sb, client, "+15550402")  # Kurigram starts every session with salt 0
    assert any(r["method"] == "bad_server_salt" for r in await sb.control.requests())


async def test_ping_and_long_gzipped_message(sb, make_client, lib):
    me = await sb.control.create_user("+15550403", "P")
    await sb.control.create_user("+15550404", "Q", username="quinn_q")
    client = make_client()
    await login(sb, client, "+15550403")
    if lib == "telethon":
        from telethon.tl import functions, types

        pong = await client.client(functions.PingRequest(ping_id=4242))
        assert isinstance(pong, types.Pong) and pong.ping_id == 4242
    else:
        from pyrogram import raw

        pong = await client.client.invoke(raw.functions.Ping(ping_id=4242))
        assert pong.ping_id == 4242
    text = "long " * 800 + "end"  # big enough for Telethon to gzip the request
    await client.send_message("quinn_q", text)
    stored = await sb.control.messages(me["id"])
    assert stored[-1]["text"] == text
    if lib == "telethon":
        assert any(r["method"] == "gzip_packed" for r in await sb.control.requests())
        from telethon.tl import functions

        pongs = await asyncio.gather(  # concurrent requests travel in one msg_container
            *(client.client(functions.PingRequest(ping_id=i)) for i in range(5))
        )
        assert [p.ping_id for p in pongs] == list(range(5))
        assert sb.sandbox.stats["containers"] > 0


async def test_cli_prints_json_line_and_stops_on_sigterm(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "plugins"), str(ROOT / "core"), env.get("PYTHONPATH", "")]
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "unifyport_telegram.sandbox", "--state-dir", str(tmp_path / "st"),
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        info = json.loads(line)
        assert {"mtproto", "dc_id", "public_key_file", "control"} <= info.keys()
        host, port = info["mtproto"].rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0 and info["dc_id"] == 2
        assert Path(info["public_key_file"]).read_text().startswith("-----BEGIN RSA PUBLIC KEY")
        async with aiohttp.ClientSession() as http:
            async with http.get(info["control"] + "/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["dcs"]["2"] == info["mtproto"]
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0


async def test_control_api_errors_are_json(sb):
    async with aiohttp.ClientSession() as http:
        async with http.get(sb.control_url + "/codes/123") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
        async with http.post(sb.control_url + "/users", data=b"{nope") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "invalid_request"
        async with http.post(sb.control_url + "/users", json={"phone": "+1555"}) as resp:
            assert resp.status == 400
            assert "first_name" in (await resp.json())["error"]["message"]
        async with http.get(sb.control_url + "/requests?dc_id=x") as resp:
            assert resp.status == 400
        async with http.get(sb.control_url + "/requests?dc_id=1&method=ping") as resp:
            assert resp.status == 200 and await resp.json() == []
        async with http.get(sb.control_url + "/nowhere") as resp:
            assert resp.status == 404
            assert "error" in await resp.json()


async def test_control_messages_in_group_and_bulk(sb):
    a = await sb.control.create_user("+15550410", "A")
    b = await sb.control.create_user("+15550411", "B")
    one = await sb.control.push_message(a["id"], b["id"], "hi group", chat={"title": "G"})
    assert one["peer"]["type"] == "chat" and one["from_user_id"] == b["id"]
    many = await sb.control.push_messages(
        [{"to_user_id": a["id"], "from_user_id": b["id"], "text": f"m{i}"} for i in range(5)]
    )
    assert [m["text"] for m in many] == [f"m{i}" for i in range(5)]
    pts = [m["pts"] for m in await sb.control.messages(a["id"])]
    assert pts == sorted(pts) and len(set(pts)) == len(pts) == 6


@pytest.mark.parametrize("lib", ["telethon"])
async def test_client_clock_skew_gets_bad_msg_notification(sb, make_client):
    from telethon.tl import functions

    await sb.control.create_user("+15550420", "Clock")
    client = make_client(library="telethon")
    await login(sb, client, "+15550420")
    client.client._sender._state.time_offset = 3600  # the client's clock is an hour ahead
    pong = await client.client(functions.PingRequest(ping_id=7))
    assert pong.ping_id == 7  # Telethon corrected its clock from the notification and resent
    events = [r for r in await sb.control.requests() if r["method"] == "bad_msg_notification"]
    assert events and events[0]["error"] == "17"


@pytest.mark.parametrize("lib", ["telethon"])
async def test_ping_delay_disconnect_closes_silent_connection(sb, make_client):
    from telethon.tl import functions

    await sb.control.create_user("+15550421", "Quiet")
    client = make_client(library="telethon", auto_reconnect=False)
    await login(sb, client, "+15550421")
    before = len(sb.sandbox.connections)
    await client.client(functions.PingDelayDisconnectRequest(ping_id=1, disconnect_delay=1))
    for _ in range(40):
        if len(sb.sandbox.connections) < before:
            break
        await asyncio.sleep(0.1)
    assert len(sb.sandbox.connections) == before - 1
