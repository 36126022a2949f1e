"""Telegram through the declared flows: the seed's cancel-after-wrong-password, QR clients
closed when the flow ends, and out-of-range input refused at the API (422, never a 503)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from tests.support.gateway import Api
from unifyport_telegram.backend import bounded
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import CREDS
from .helpers import authorized, create, online, post_account, step, wait_for


async def test_cancel_after_a_wrong_password_then_start(api: Api, sb: RunningSandbox) -> None:
    await sb.control.create_user("+15550007001", "Wren", password="right")
    acc = await create(api, "code", phone="+15550007001")
    await step(api, acc, "start")
    status, body = await step(api, acc, "code", {"code": await sb.control.get_code("+15550007001")})
    assert (status, body["status"]) == (200, "awaiting_password")
    status, body = await step(api, acc, "password", {"password": "wrong"})
    assert (status, body["error"]["code"], body["error"]["status"]) == (
        400, "invalid_password", "failed")
    status, body = await step(api, acc, "cancel")
    assert (status, body["status"]) == (200, "pending"), body
    status, body = await step(api, acc, "start")
    assert (status, body["status"]) == (200, "awaiting_code"), body


async def _connections_back_to(sb: RunningSandbox, count: int) -> None:
    async def closed() -> bool:
        return len(sb.sandbox.connections) <= count
    await wait_for(closed, f"sandbox connections back to {count}", attempts=100)


async def test_qr_client_closes_on_delete_and_on_cancel(api: Api, sb: RunningSandbox) -> None:
    before = len(sb.sandbox.connections)
    acc = await create(api, "qrcode")
    status, body = await step(api, acc, "qr/start")
    assert status == 200, body
    assert len(sb.sandbox.connections) > before, "the QR client waits for the scan"
    status, _ = await api.delete(f"/v1/accounts/{acc}")
    assert status == 204
    await _connections_back_to(sb, before)

    acc = await create(api, "qrcode")
    await step(api, acc, "qr/start")
    status, body = await step(api, acc, "cancel")
    assert (status, body["status"]) == (200, "pending")
    await _connections_back_to(sb, before)


async def test_out_of_range_fields_are_refused_at_creation(api: Api) -> None:
    for api_id in (10**30, -5, 0, 2**31, "²³", "1e3"):
        status, body = await post_account(api, "code", phone="+15550007002", api_id=api_id)
        assert (status, body["error"]["code"]) == (422, "validation_failed"), (api_id, body)
        assert "provider_data.api_id" in body["error"]["fields"]
    status, body = await api.post("/v1/accounts", {
        "provider": "telegram", "auth_mode": "code",
        "provider_data": {**CREDS, "phone": "+15550007002", "api_id": "12345"}})
    assert status == 201, "ASCII digits are still an integer"


async def test_out_of_range_ids_on_send_are_422(api: Api, sb: RunningSandbox) -> None:
    acc, _ = await authorized(api, sb, "+15550007003")
    await online(api, acc)
    path = f"/v1/accounts/{acc}/messages"
    for body in ({"chat_id": 10**23, "text": "x"}, {"chat_id": "1" * 30, "text": "x"},
                 {"chat_id": 1, "text": "x", "reply_to_id": 2**32},
                 {"chat_id": "abc", "text": "x"}, {"chat_id": 1, "text": "x" * 4097}):
        status, answer = await api.post(path, body)
        assert (status, answer["error"]["code"]) == (422, "validation_failed"), (body, answer)


async def test_a_cancelled_call_leaves_no_error_for_the_collector_to_log(
        caplog: pytest.LogCaptureFixture) -> None:
    """Kurigram answers the cancellation of a request with a TimeoutError of its own. The
    backends' bound on a call (``backend.bounded``) retrieves it: unretrieved, asyncio logged
    it with its traceback whenever the garbage collector freed the task (the suite once saw
    that inside werkzeug's ast.parse, where CPython 3.11.7 then raised gh-106905). The call
    here is a stand-in with that one behaviour: no library call can be cancelled on cue."""
    async def answers_cancellation_with_its_own_error() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise TimeoutError('Failed to invoke "updates.GetState" after 1 retries') from None

    caller = asyncio.create_task(bounded(answers_cancellation_with_its_own_error(), 60))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    del caller
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
        await asyncio.sleep(0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
