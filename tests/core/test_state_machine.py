"""The generic auth state machine, driven through the HTTP API with the test-only provider."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.auth.declare import Step
from unifyport.db.models import Account

API_FIELDS = {"api_id": 1, "api_hash": "h"}
MODES = {
    "code": {"provider_data": {**API_FIELDS, "phone": "+15551234567"}},
    "qrcode": {"provider_data": API_FIELDS},
    "session": {},
}
STEP_BODY: dict[str, dict[str, Any]] = {
    "code": {"code": "12345"}, "password": {"password": "hunter2"},
    "import": {"params": {"session_url": "good:1"}}}
CORE = ["pending", "authorized", "failed", "logged_out"]
CASES = [(mode.name, step, status) for mode in TestProvider.auth_modes
         for step in mode.all_steps for status in [*CORE, *mode.statuses]]


def test_cancel_is_the_cores_and_every_mode_has_it() -> None:
    for mode in TestProvider.auth_modes:
        cancel = mode.step("cancel")
        assert cancel is not None
        assert cancel.sources == {*mode.statuses, "pending", "failed"}
        assert cancel.targets == {"pending"}


async def new_account(api: Api, mode: str) -> str:
    status, account = await api.post("/v1/accounts", {"provider": "testprov",
                                                      "auth_mode": mode, **MODES[mode]})
    assert status == 201, account
    return str(account["id"])


async def step(api: Api, acc: str, name: str, body: Any = None) -> tuple[int, Any]:
    return await api.post(f"/v1/accounts/{acc}/auth/session/{name}", body)


async def force_status(api: Api, acc: str, status: str, flow: bool = True) -> None:
    """Test set-up: put the account straight into ``status`` (with flow data when needed)."""
    from unifyport.db.repositories import SecretRepository
    from unifyport.gateway import AUTH_FLOW

    async with api.gateway.db.write() as s:
        await s.execute(update(Account).where(Account.id == acc).values(status=status))
        if flow:
            await SecretRepository(s, api.gateway.box).put_json(
                acc, AUTH_FLOW, {"phone_code_hash": "h", "n": 1})


async def event_types(api: Api, acc: str) -> list[tuple[str, dict[str, Any]]]:
    _, page = await api.get(f"/v1/events?account_id={acc}&limit=200")
    return [(e["type"], e["data"]) for e in reversed(page["data"])]


@pytest.mark.parametrize(("mode", "auth_step", "status"), CASES,
                         ids=[f"{m}-{st.name}-{s}" for m, st, s in CASES])
async def test_every_step_from_every_status(api: Api, mode: str, auth_step: Step,
                                            status: str) -> None:
    acc = await new_account(api, mode)
    await force_status(api, acc, status)
    code, body = await step(api, acc, auth_step.name, STEP_BODY.get(auth_step.name))
    if status in auth_step.sources:
        assert code == 200, body
        assert body["status"] in auth_step.targets
        assert body["account"]["status"] == body["status"]
    else:
        assert code == 409, body
        assert body["error"]["code"] == "invalid_state"
        assert body["error"]["status"] == status
        _, account = await api.get(f"/v1/accounts/{acc}")
        assert account["status"] == status


async def test_code_flow_emits_one_state_change_per_transition(
    api: Api, provider: TestProvider
) -> None:
    acc = await new_account(api, "code")
    code, body = await step(api, acc, "start")
    assert (code, body["status"]) == (200, "awaiting_code")
    code, body = await step(api, acc, "code", {"code": "12345"})
    assert (code, body["status"]) == (200, "authorized")
    assert body["account"]["identity"] == {"id": "777", "username": "tester",
                                           "display_name": "Test User",
                                           "phone": "+15550001111"}
    assert await event_types(api, acc) == [
        ("account.created", {"account_id": acc, "provider": "testprov"}),
        ("account.auth.state_changed", {"account_id": acc, "from": "pending",
                                        "to": "awaiting_code"}),
        ("account.auth.code_sent", {"account_id": acc, "code_type": "app", "timeout": 60}),
        ("account.auth.state_changed", {"account_id": acc, "from": "awaiting_code",
                                        "to": "authorized"}),
        ("account.authorized", {"account_id": acc, "identity": body["account"]["identity"]}),
    ]
    assert provider.calls[1][2] == {"phone_code_hash": "hash-+15551234567"}


async def test_two_factor_then_wrong_password_fails_and_can_restart(api: Api) -> None:
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    code, body = await step(api, acc, "code", {"code": "22222"})
    assert body["status"] == "awaiting_password"
    code, body = await step(api, acc, "password", {"password": "wrong"})
    assert code == 400
    assert body["error"] == {"code": "invalid_password", "message": "wrong password",
                             "status": "failed"}
    _, account = await api.get(f"/v1/accounts/{acc}")
    assert account["status"] == "failed"
    assert account["last_error"] == {"code": "invalid_password", "message": "wrong password"}
    events = await event_types(api, acc)
    assert events[-1] == ("account.auth.state_changed", {
        "account_id": acc, "from": "awaiting_password", "to": "failed",
        "error": {"code": "invalid_password", "message": "wrong password"}})
    code, body = await step(api, acc, "start")
    assert body["status"] == "awaiting_code"
    assert body["account"]["last_error"] is None
    await step(api, acc, "code", {"code": "22222"})
    code, body = await step(api, acc, "password", {"password": "hunter2"})
    assert (code, body["status"]) == (200, "authorized")


async def test_invalid_code_keeps_status_and_records_error(api: Api) -> None:
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    code, body = await step(api, acc, "code", {"code": "00000"})
    assert code == 400 and body["error"]["code"] == "invalid_code"
    assert body["error"]["status"] == "awaiting_code"
    _, account = await api.get(f"/v1/accounts/{acc}")
    assert account["status"] == "awaiting_code"
    assert account["last_error"]["code"] == "invalid_code"
    code, body = await step(api, acc, "code", {"code": "12345"})
    assert body["status"] == "authorized"


async def test_expired_code_fails_the_flow(api: Api) -> None:
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    code, body = await step(api, acc, "code", {"code": "99999"})
    assert code == 400 and body["error"]["code"] == "code_expired"
    assert body["error"]["status"] == "failed"


async def test_flood_wait_is_429_with_retry_after(api: Api) -> None:
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    response = await api.client.post(
        f"/v1/accounts/{acc}/auth/session/code", json={"code": "42000"},
        headers={"Authorization": f"Bearer {api.key}"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "42"
    body = await response.get_json()
    assert body["error"]["code"] == "flood_wait" and body["error"]["retry_after"] == 42
    _, account = await api.get(f"/v1/accounts/{acc}")
    assert account["last_error"] == {"code": "flood_wait", "message": "too many attempts",
                                     "retry_after": 42}


async def test_qr_flow_refresh_expiry_and_two_factor(api: Api, provider: TestProvider) -> None:
    acc = await new_account(api, "qrcode")
    code, body = await step(api, acc, "qr/start")
    assert body["status"] == "awaiting_qr_scan"
    assert body["qr"]["url"] == "tg://login?token=t1"
    code, body = await step(api, acc, "qr/start")
    assert body["qr"]["url"] == "tg://login?token=t2"
    code, body = await step(api, acc, "qr/check")
    assert (code, body["status"]) == (200, "awaiting_qr_scan")
    provider.qr_script[acc] = "qr_expired"
    code, body = await step(api, acc, "qr/check")
    assert body["status"] == "qr_expired"
    code, body = await step(api, acc, "qr/start")
    assert body["status"] == "awaiting_qr_scan" and body["qr"]["url"] == "tg://login?token=t3"
    provider.qr_script[acc] = "awaiting_password"
    code, body = await step(api, acc, "qr/check")
    assert body["status"] == "awaiting_password"
    code, body = await step(api, acc, "password", {"password": "hunter2"})
    assert body["status"] == "authorized"
    types = [t for t, _ in await event_types(api, acc)]
    assert types.count("account.auth.qr_updated") == 3
    assert types.count("account.auth.state_changed") == 5


async def test_import_flow(api: Api) -> None:
    acc = await new_account(api, "session")
    code, body = await step(api, acc, "import", {"params": {"session_url": "bad"}})
    assert code == 422 and body["error"]["code"] == "invalid_session"
    code, body = await step(api, acc, "import", {"params": {}})
    assert code == 422 and body["error"]["fields"] == {"params.session_url": "field required"}
    code, body = await step(api, acc, "import", {"params": {"session_url": "good:x"}})
    assert (code, body["status"]) == (200, "authorized")
    assert "good:x" not in str(body)


@pytest.mark.parametrize("status", [*CORE, "awaiting_code", "awaiting_password"])
async def test_cancel_returns_to_pending_and_clears_flow(
    api: Api, provider: TestProvider, status: str
) -> None:
    acc = await new_account(api, "code")
    await force_status(api, acc, status)
    code, body = await step(api, acc, "cancel")
    if status in ("authorized", "logged_out"):
        assert code == 409
        return
    assert (code, body["status"]) == (200, "pending")
    assert acc in provider.discarded, "the provider drops what it keeps for the flow"
    code, body = await step(api, acc, "code", {"code": "12345"})
    assert code == 409


async def test_cancel_after_a_wrong_password_then_start_again(api: Api) -> None:
    """The seed: "If submitting the wrong password, cancel the session and call qr/start or
    session/start again." """
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    await step(api, acc, "code", {"code": "22222"})
    code, body = await step(api, acc, "password", {"password": "wrong"})
    assert (code, body["error"]["status"]) == (400, "failed")
    code, body = await step(api, acc, "cancel")
    assert (code, body["status"]) == (200, "pending")
    assert body["account"]["last_error"] is None
    code, body = await step(api, acc, "cancel")
    assert (code, body["status"]) == (200, "pending"), "cancel from pending is harmless"
    code, body = await step(api, acc, "start")
    assert (code, body["status"]) == (200, "awaiting_code")


async def test_a_poll_that_changes_nothing_writes_nothing(api: Api) -> None:
    acc = await new_account(api, "qrcode")
    await step(api, acc, "qr/start")
    _, before = await api.get(f"/v1/accounts/{acc}")
    for _ in range(3):
        code, body = await step(api, acc, "qr/check")
        assert (code, body["status"]) == (200, "awaiting_qr_scan")
    _, after = await api.get(f"/v1/accounts/{acc}")
    assert after["updated_at"] == before["updated_at"]


async def test_steps_outside_the_mode_are_refused(api: Api) -> None:
    acc = await new_account(api, "qrcode")
    code, body = await step(api, acc, "start")
    assert code == 400 and body["error"]["code"] == "unsupported_auth_mode"
    code, body = await step(api, acc, "import", {"params": {"session_url": "good:1"}})
    assert code == 400 and body["error"]["code"] == "unsupported_auth_mode"


async def test_step_input_is_validated(api: Api) -> None:
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    code, body = await step(api, acc, "code", {})
    assert code == 422 and body["error"]["fields"] == {"code": "field required"}
    code, body = await step(api, acc, "code", {"code": "  "})
    assert code == 422
    code, body = await step(api, acc, "code", {"code": "1" * 33})
    assert code == 422 and body["error"]["fields"] == {"code": "must be 1 to 32 characters"}
    code, body = await step(api, acc, "code", {"code": "12345", "extra": 1})
    assert code == 422 and body["error"]["fields"] == {"extra": "unknown field"}
    code, body = await step(api, acc, "nope")
    assert code == 404


async def test_flow_survives_a_restart_between_steps(data_dir: Path) -> None:
    settings = make_settings(data_dir, CORE_ONLY)
    async with running(settings, (("testprov", TestPlugin()),)) as api:
        acc = await new_account(api, "code")
        await step(api, acc, "start")
        await step(api, acc, "code", {"code": "22222"})
    restarted = TestPlugin()
    async with running(settings, (("testprov", restarted),)) as api:
        code, body = await step(api, acc, "password", {"password": "hunter2"})
        assert (code, body["status"]) == (200, "authorized")
        assert restarted.provider.calls[0][2] == {"phone_code_hash": "hash-+15551234567",
                                                  "srp": "x"}


async def test_concurrent_calls_on_one_account_are_serialised(
    api: Api, provider: TestProvider
) -> None:
    acc = await new_account(api, "code")
    await step(api, acc, "start")
    provider.step_delay = 0.05
    results = await asyncio.gather(*(step(api, acc, "code", {"code": "12345"})
                                     for _ in range(3)))
    codes = sorted(code for code, _ in results)
    assert codes == [200, 409, 409]
    assert len([c for c in provider.calls if c[1] == "code"]) == 1
    types = [t for t, _ in await event_types(api, acc)]
    assert types.count("account.authorized") == 1
