"""QR login through the HTTP API: scan, expiry and refresh, cross-DC, 2FA, restarts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from tests.support.gateway import Api
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import QR_TTL
from .helpers import create, events, step, wait_for

Gateway = Callable[[], AbstractAsyncContextManager[Api]]


async def _check_until(api: Api, acc: str, wanted: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status, body = await step(api, acc, "qr/check")
        assert status == 200, body
        return body if body["status"] == wanted else None
    return dict(await wait_for(probe, f"qr/check -> {wanted}"))


async def test_qr_scan_authorizes(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003001", "Quinn", username="quinn")
    acc = await create(api, "qrcode")
    status, body = await step(api, acc, "qr/start")
    assert status == 200, body
    assert body["status"] == "awaiting_qr_scan"
    qr = body["qr"]
    assert qr["url"].startswith("tg://login?token=") and qr["expires_at"].endswith("Z")
    assert qr["svg"].lstrip().startswith("<svg")
    updated = await events(api, acc, "account.auth.qr_updated")
    assert updated[0]["data"]["url"] == qr["url"]
    status, body = await step(api, acc, "qr/check")
    assert (status, body["status"], body["qr"]["url"]) == (200, "awaiting_qr_scan", qr["url"])
    await sb.control.accept_qr(qr["url"], user["id"])
    body = await _check_until(api, acc, "authorized")
    assert body["account"]["identity"]["username"] == "quinn"


async def test_qr_expiry_and_refresh(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003002", "Rex")
    acc = await create(api, "qrcode")
    sb.sandbox.options.qr_ttl = 1.0  # a first token that expires soon...
    _, first = await step(api, acc, "qr/start")
    sb.sandbox.options.qr_ttl = QR_TTL  # ...and the fixture's lifetime for the next one
    await _check_until(api, acc, "qr_expired")
    status, body = await step(api, acc, "qr/check")
    assert (status, body["error"]["code"]) == (400, "qr_expired")
    status, body = await step(api, acc, "qr/start")
    assert (status, body["status"]) == (200, "awaiting_qr_scan")
    assert body["qr"]["url"] != first["qr"]["url"]
    assert len(await events(api, acc, "account.auth.qr_updated")) == 2
    await sb.control.accept_qr(body["qr"]["url"], user["id"])
    await _check_until(api, acc, "authorized")


async def test_qr_cross_dc(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003003", "Dee", dc_id=1)
    acc = await create(api, "qrcode")
    _, body = await step(api, acc, "qr/start")
    await sb.control.accept_qr(body["qr"]["url"], user["id"])
    body = await _check_until(api, acc, "authorized")
    assert body["account"]["identity"]["id"] == str(user["id"])


async def test_qr_with_2fa(api: Api, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003004", "Tess", password="s3cret")
    acc = await create(api, "qrcode")
    _, body = await step(api, acc, "qr/start")
    await sb.control.accept_qr(body["qr"]["url"], user["id"])
    await _check_until(api, acc, "awaiting_password")
    status, body = await step(api, acc, "password", {"password": "s3cret"})
    assert (status, body["status"]) == (200, "authorized"), body


async def test_qr_check_after_restart(gateway: Gateway, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003005", "Uma")
    async with gateway() as api:
        acc = await create(api, "qrcode")
        _, body = await step(api, acc, "qr/start")
    await sb.control.accept_qr(body["qr"]["url"], user["id"])
    async with gateway() as api:
        status, body = await step(api, acc, "qr/check")
        assert (status, body["status"]) == (200, "authorized"), body


async def test_qr_check_after_restart_before_scan(gateway: Gateway, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003006", "Vic")
    async with gateway() as api:
        acc = await create(api, "qrcode")
        _, first = await step(api, acc, "qr/start")
    async with gateway() as api:
        status, body = await step(api, acc, "qr/check")
        assert (status, body["status"]) == (200, "awaiting_qr_scan"), body
        assert body["qr"]["url"] != first["qr"]["url"]
        assert len(await events(api, acc, "account.auth.qr_updated")) == 2
        await sb.control.accept_qr(body["qr"]["url"], user["id"])
        await _check_until(api, acc, "authorized")


async def test_qr_cross_dc_with_2fa_after_restart(gateway: Gateway, sb: RunningSandbox) -> None:
    user = await sb.control.create_user("+15550003007", "Wyn", dc_id=1, password="pw1")
    async with gateway() as api:
        acc = await create(api, "qrcode")
        _, body = await step(api, acc, "qr/start")
        await sb.control.accept_qr(body["qr"]["url"], user["id"])
        await _check_until(api, acc, "awaiting_password")
    async with gateway() as api:
        status, body = await step(api, acc, "password", {"password": "pw1"})
        assert (status, body["status"]) == (200, "authorized"), body
        assert body["account"]["identity"]["id"] == str(user["id"])
