"""Bot login, the per-account backend override, runtime stop/start and reconnection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.gateway import Api, make_settings, running
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import telegram_toml
from .helpers import (
    authorized,
    create,
    events,
    online,
    post_account,
    received,
    step,
    wait_running,
)


async def test_bot_login_and_inbound(api: Api, sb: RunningSandbox) -> None:
    bot = await sb.control.create_user("+15550006001", "Botty", username="botty_bot", bot=True)
    user = await sb.control.create_user("+15550006002", "Human")
    acc = await create(api, "bot", bot_token=bot["bot_token"])
    status, body = await step(api, acc, "import", {"params": {}})
    assert status == 200, body
    assert body["status"] == "authorized"
    assert body["account"]["identity"]["username"] == "botty_bot"
    await online(api, acc)
    await sb.control.push_message(bot["id"], user["id"], "/start")
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "/start"


async def test_bad_bot_token(api: Api, sb: RunningSandbox) -> None:
    acc = await create(api, "bot", bot_token="123456:" + "x" * 30)
    status, body = await step(api, acc, "import", {"params": {}})
    assert (status, body["error"]["code"]) == (400, "invalid_bot_token"), body


async def test_backend_override_per_account(api: Api, sb: RunningSandbox,
                                            backend: str) -> None:
    other = "pyrogram" if backend == "telethon" else "telethon"
    user = await sb.control.create_user("+15550006011", "Ola")
    friend = await sb.control.create_user("+15550006012", "Pat")
    acc = await create(api, "code", phone="+15550006011", backend=other)
    _, account = await api.get(f"/v1/accounts/{acc}")
    assert account["provider_data"]["backend"] == other
    await step(api, acc, "start")
    status, body = await step(api, acc, "code",
                              {"code": await sb.control.get_code("+15550006011")})
    assert (status, body["status"]) == (200, "authorized"), body
    await online(api, acc)
    await sb.control.push_message(user["id"], friend["id"], "other library")
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "other library"


async def test_unknown_backend_refused(api: Api) -> None:
    status, body = await post_account(api, "qrcode", backend="tdlib")
    assert status == 422 and "provider_data.backend" in body["error"]["fields"]


async def test_stop_and_start_again(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550006021")
    friend = await sb.control.create_user("+15550006022", "Quin")
    await online(api, acc)
    status, body = await api.post(f"/v1/accounts/{acc}/runtime/stop")
    assert (status, body["status"]) == (200, "stopped")
    await sb.control.push_message(me["id"], friend["id"], "while stopped")
    await online(api, acc)
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "while stopped"


async def test_reconnects_after_connection_loss(api: Api, sb: RunningSandbox) -> None:
    acc, me = await authorized(api, sb, "+15550006031")
    friend = await sb.control.create_user("+15550006032", "Rae")
    await online(api, acc)
    for conn in list(sb.sandbox.connections):
        conn.close()
    await sb.control.push_message(me["id"], friend["id"], "after the drop")
    [event] = await received(api, acc)
    assert event["data"]["message"]["text"] == "after the drop"
    await wait_running(api, acc)
    changes = [e["data"]["to"] for e in await events(api, acc, "account.runtime.state_changed")]
    assert "reconnecting" in changes


async def test_kurigram_pings_at_the_configured_interval(tmp_path: Path, sb: RunningSandbox,
                                                         import_dir: Path) -> None:
    """Kurigram pings every 5 s by default, asking the server to drop the connection 25 s
    after a ping. An online client's pings are the runtime's heartbeat's now (plain pings or
    probes, every ``ping_interval``, here 40 s): no ``ping_delay_disconnect`` arms the
    server's timer, and Kurigram's 10 s silence timeout, raised with ``ping_interval``, no
    longer restarts the session (its restarts made every connection a new one)."""
    settings = make_settings(tmp_path / "data", telegram_toml(sb, "pyrogram", import_dir,
                                                              probe_interval=60,
                                                              ping_interval=40))
    async with running(settings) as api:
        acc, _ = await authorized(api, sb, "+15550006041")
        await online(api, acc)
        before = {c.id for c in sb.sandbox.connections}
        await asyncio.sleep(12)  # past Kurigram's 5 s first ping and its 10 s silence timeout
        assert {c.id for c in sb.sandbox.connections} == before
        assert all(c._disconnect_timer is None for c in sb.sandbox.connections)
        assert [r for r in await sb.control.requests()
                if r["method"] == "ping_delay_disconnect"] == []
        changes = [e["data"]["to"]
                   for e in await events(api, acc, "account.runtime.state_changed")]
        assert sorted(changes) == ["running", "starting"]
