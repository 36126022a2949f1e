"""Login flows with the real Telethon and Kurigram clients."""

from __future__ import annotations

import asyncio

import pytest

from unifyport_telegram.sandbox.testing import ControlError

from .adapters import error_name, flood_seconds
from .conftest import code_sent, login

#: Token lifetime, in seconds, for the tests that wait for a token to expire.
SHORT_QR_TTL = 1.0


async def test_code_login(sb, make_client):
    user = await sb.control.create_user("+15550100", "Ada", username="ada")
    client = make_client()
    assert await login(sb, client, "+15550100") == user["id"]
    assert await client.me_id() == user["id"]
    methods = [r["method"] for r in await sb.control.requests()]
    assert "auth.sendCode" in methods and "auth.signIn" in methods


async def test_wrong_code(sb, make_client):
    await sb.control.create_user("+15550101", "Bob")
    client = make_client()
    code_hash, good = await code_sent(sb, client, "+15550101")
    wrong = "00000" if good != "00000" else "11111"
    with pytest.raises(Exception) as info:
        await client.sign_in("+15550101", code_hash, wrong)
    assert error_name(info.value) == "PHONE_CODE_INVALID"


async def test_expired_code(sb, make_client):
    await sb.control.create_user("+15550102", "Cy")
    client = make_client()
    code_hash, code = await code_sent(sb, client, "+15550102")
    await sb.control.expire_code("+15550102")
    with pytest.raises(Exception) as info:
        await client.sign_in("+15550102", code_hash, code)
    assert error_name(info.value) == "PHONE_CODE_EXPIRED"


async def test_resend_code_gives_new_code(sb, make_client, lib):
    await sb.control.create_user("+15550103", "Di")
    client = make_client()
    code_hash, first = await code_sent(sb, client, "+15550103")
    if lib == "telethon":
        from telethon.tl import functions

        await client.client(functions.auth.ResendCodeRequest("+15550103", code_hash))
    else:
        await client.client.resend_code("+15550103", code_hash)
    second = await sb.control.get_code("+15550103")
    methods = [r["method"] for r in await sb.control.requests()]
    assert "auth.resendCode" in methods
    assert len(second) == 5 and second.isdigit()
    if first != second:  # equal one time in 90000: nothing to tell apart then
        with pytest.raises(Exception) as info:
            await client.sign_in("+15550103", code_hash, first)
        assert error_name(info.value) == "PHONE_CODE_INVALID"
    assert await client.sign_in("+15550103", code_hash, second) > 0
    assert first  # the first code existed


async def test_two_factor_right_password(sb, make_client):
    user = await sb.control.create_user("+15550104", "Eve", password="hunter2")
    client = make_client()
    code_hash, code = await code_sent(sb, client, "+15550104")
    with pytest.raises(Exception) as info:
        await client.sign_in("+15550104", code_hash, code)
    assert error_name(info.value) == "SESSION_PASSWORD_NEEDED"
    assert await client.check_password("hunter2") == user["id"]
    assert await client.me_id() == user["id"]


async def test_two_factor_wrong_password(sb, make_client):
    await sb.control.create_user("+15550105", "Fay", password="hunter2")
    client = make_client()
    code_hash, code = await code_sent(sb, client, "+15550105")
    with pytest.raises(Exception) as info:
        await client.sign_in("+15550105", code_hash, code)
    assert error_name(info.value) == "SESSION_PASSWORD_NEEDED"
    with pytest.raises(Exception) as info:
        await client.check_password("hunter3")
    assert error_name(info.value) == "PASSWORD_HASH_INVALID"
    with pytest.raises(Exception) as info:
        await client.me_id()
    assert error_name(info.value) == "AUTH_KEY_UNREGISTERED"


@pytest.mark.parametrize("home_dc", [2, 1], ids=["same-dc", "cross-dc"])
async def test_qr_login(sb, make_client, home_dc):
    user = await sb.control.create_user("+15550106", "Gus", dc_id=home_dc)
    client = make_client()
    await client.connect()
    token = await client.qr_start()
    waiter = asyncio.ensure_future(client.qr_wait())
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await sb.control.accept_qr(token, user["id"])
    assert await asyncio.wait_for(waiter, 20) == user["id"]
    assert await client.me_id() == user["id"]
    methods = [(r["dc_id"], r["method"]) for r in await sb.control.requests()]
    assert (2, "auth.exportLoginToken") in methods
    if home_dc == 1:
        assert (1, "auth.importLoginToken") in methods
        assert (1, "help.getConfig") in methods or (2, "help.getConfig") in methods


async def test_qr_login_with_two_factor(sb, make_client):
    user = await sb.control.create_user("+15550107", "Hal", password="pw")
    client = make_client()
    await client.connect()
    token = await client.qr_start()
    waiter = asyncio.ensure_future(client.qr_wait())
    await sb.control.accept_qr(token, user["id"])
    with pytest.raises(Exception) as info:
        await asyncio.wait_for(waiter, 20)
    assert error_name(info.value) == "SESSION_PASSWORD_NEEDED"
    assert await client.check_password("pw") == user["id"]


async def test_qr_token_expires(sb, make_client):
    user = await sb.control.create_user("+15550108", "Ivy")
    sb.sandbox.options.qr_ttl = SHORT_QR_TTL
    client = make_client()
    await client.connect()
    token = await client.qr_start()
    await asyncio.sleep(SHORT_QR_TTL + 0.2)
    with pytest.raises(ControlError) as info:
        await sb.control.accept_qr(token, user["id"])
    assert info.value.status == 410


async def test_bot_login(sb, make_client):
    bot = await sb.control.create_user("", "Robo", username="robo_bot", bot=True)
    client = make_client()
    await client.connect()
    assert await client.bot_login(bot["bot_token"]) == bot["id"]
    assert await client.me_id() == bot["id"]


async def test_bad_bot_token(sb, make_client):
    client = make_client()
    await client.connect()
    with pytest.raises(Exception) as info:
        await client.bot_login("123:nope")
    assert error_name(info.value) == "ACCESS_TOKEN_INVALID"


async def test_flood_wait_surfaced(sb, make_client):
    await sb.control.create_user("+15550109", "Jo")
    await sb.control.inject_fault("auth.sendCode", "FLOOD_WAIT_7", times=1)
    client = make_client()
    await client.connect()
    with pytest.raises(Exception) as info:
        await client.send_code("+15550109")
    assert error_name(info.value) == "FLOOD_WAIT_X"
    assert flood_seconds(info.value) == 7
    # The fault was for one call only (a new client: Telethon remembers flood waits itself).
    other = make_client()
    await other.connect()
    assert await other.send_code("+15550109")


@pytest.mark.parametrize("error", ["PHONE_NUMBER_BANNED", "PHONE_CODE_EXPIRED"])
async def test_injected_errors(sb, make_client, error):
    await sb.control.create_user("+15550110", "Kim")
    await sb.control.inject_fault("auth.sendCode", error, times=2)
    client = make_client()
    await client.connect()
    for _ in range(2):
        with pytest.raises(Exception) as info:
            await client.send_code("+15550110")
        assert error_name(info.value) == error
    assert await client.send_code("+15550110")


async def test_phone_migrate_to_home_dc(sb, make_client):
    user = await sb.control.create_user("+15550111", "Lou", dc_id=1)
    client = make_client()
    assert await login(sb, client, "+15550111") == user["id"]
    requests = await sb.control.requests()
    assert {"dc_id": 2, "method": "auth.sendCode"}.items() <= next(
        r for r in requests if r["method"] == "auth.sendCode"
    ).items()
    assert any(r["dc_id"] == 1 and r["method"] == "auth.signIn" for r in requests)
    assert [r["dc_id"] for r in await sb.control.requests(method="auth.signIn")] == [1]


async def test_unknown_phone(sb, make_client):
    client = make_client()
    await client.connect()
    with pytest.raises(Exception) as info:
        await client.send_code("+19999999999")
    assert error_name(info.value) == "PHONE_NUMBER_INVALID"


async def test_qr_token_accepted_but_imported_too_late(sb, make_client, lib):
    from unifyport_telegram.sandbox.testing import API_HASH, API_ID

    user = await sb.control.create_user("+15550112", "Max", dc_id=1)
    sb.sandbox.options.qr_ttl = SHORT_QR_TTL
    client = make_client()
    await client.connect()
    if lib == "telethon":
        from telethon.tl import functions

        def export():
            return client.client(functions.auth.ExportLoginTokenRequest(API_ID, API_HASH, []))

        def import_(token):
            return client.client(functions.auth.ImportLoginTokenRequest(token))
    else:
        from pyrogram import raw

        def export():
            return client.client.invoke(
                raw.functions.auth.ExportLoginToken(api_id=API_ID, api_hash=API_HASH, except_ids=[])
            )

        def import_(token):
            return client.client.invoke(raw.functions.auth.ImportLoginToken(token=token))

    token = (await export()).token
    await sb.control.accept_qr(token, user["id"])
    migrate = await export()
    assert migrate.dc_id == 1 and migrate.token == token
    await asyncio.sleep(SHORT_QR_TTL + 0.2)
    with pytest.raises(Exception) as info:
        await import_(token)
    assert error_name(info.value) == "AUTH_TOKEN_EXPIRED"
    fresh = await export()  # an expired acceptance does not log anyone in
    assert fresh.token != token and not hasattr(fresh, "authorization")
