"""One webhook endpoint receives Telegram and Matrix events side by side, in one envelope,
signed alike: the real Telethon against the MTProto sandbox, mautrix against Synapse, a real
receiver on 127.0.0.1 verified with ``standardwebhooks``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.gateway import make_settings, running
from tests.telegram.conftest import CREDS, telegram_toml
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import endpoint_toml, new_secret, verify
from unifyport_telegram.sandbox.testing import running_sandbox

from .synapse import Synapse
from .test_matrix import login, online


async def test_one_endpoint_gets_both_channels(tmp_path: Path, synapse: Synapse) -> None:
    receiver = await Receiver().start()
    secret = new_secret()
    try:
        async with running_sandbox(tmp_path / "sandbox") as sb:
            toml = telegram_toml(sb, "telethon", tmp_path) + endpoint_toml(
                "both", receiver.url, secret, events=["message.received"])
            async with running(make_settings(tmp_path / "data", toml)) as api:
                me, friend = synapse.new_user(), synapse.new_user("friend")
                mx = await login(api, synapse, me)
                room = synapse.direct_room(friend, me)
                await online(api, mx)
                tg_me = await sb.control.create_user("+15550008001", "Tee")
                tg_friend = await sb.control.create_user("+15550008002", "Gee")
                _, account = await api.post("/v1/accounts", {
                    "provider": "telegram", "auth_mode": "code",
                    "provider_data": {**CREDS, "phone": "+15550008001"}})
                tg = account["id"]
                await api.post(f"/v1/accounts/{tg}/auth/session/start")
                await api.post(f"/v1/accounts/{tg}/auth/session/code",
                               {"code": await sb.control.get_code("+15550008001")})
                await online(api, tg)
                synapse.say(friend, room, "from matrix")
                await sb.control.push_message(tg_me["id"], tg_friend["id"], "from telegram")
                got = [verify(secret, r) for r in await receiver.wait_for(2, within=30)]
    finally:
        await receiver.stop()
    by_provider = {e["data"]["provider"]: e for e in got}
    assert set(by_provider) == {"matrix", "telegram"}
    assert {e["data"]["message"]["text"] for e in got} == {"from matrix", "from telegram"}
    for event in got:
        assert set(event) == {"type", "timestamp", "data"}
        assert event["type"] == "message.received"
        assert set(event["data"]) == {"account_id", "provider", "message"}
        assert {"id", "chat", "sender", "text", "date", "reply_to_id"} <= set(
            event["data"]["message"]), json.dumps(event)
    assert by_provider["matrix"]["data"]["account_id"] == mx
    assert by_provider["telegram"]["data"]["account_id"] == tg
