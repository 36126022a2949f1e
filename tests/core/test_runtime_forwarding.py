"""Two gateways on one PostgreSQL: a runtime call or an auth step that reaches the process
not running the account (or not holding its login flow) is carried out by the one that
does; an owner that does not answer is a 503 ``runtime_unavailable`` the caller may retry."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from tests.core.test_runtime import authorized, events_of, until
from tests.core.test_runtime_leases import sup
from tests.support.gateway import CORE_ONLY, make_settings, running
from tests.support.testprovider import TestPlugin
from unifyport.auth.declare import AUTHORIZED
from unifyport.runtime.forward import CLAIM_TIMEOUT
from unifyport.runtime.models import RuntimeCall


async def test_calls_and_flows_reach_their_process(tmp_path: Path, postgres_url: str) -> None:
    a_plugin, b_plugin = TestPlugin(), TestPlugin()
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=postgres_url)
    async with running(settings, (("testprov", a_plugin),)) as a, \
            running(settings, (("testprov", b_plugin),)) as b:
        acc = await authorized(a)
        await a.post(f"/v1/accounts/{acc}/runtime/start")
        await until(lambda: _true(sup(a).is_running(acc)))
        assert not sup(b).is_running(acc)

        # a send that lands on b is made by a's client and answered by b
        status, sent = await b.post(f"/v1/accounts/{acc}/messages",
                                    {"chat_id": 42, "text": "via b", "reply_to_id": 7})
        assert status == 201, sent
        assert sent["text"] == "via b" and sent["reply_to_id"] == "7"
        assert a_plugin.provider.sent == [(acc, "42", "via b")] and not b_plugin.provider.sent
        assert [e["message"] for e in await events_of(b, acc, "message.sent")] == [sent]
        # the owner's refusal travels back as it is
        status, body = await b.post(f"/v1/accounts/{acc}/messages",
                                    {"chat_id": 42, "text": "x" * 5000})
        assert status == 422 and body["error"]["code"] == "validation_failed"

        # a QR login started on b continues on b, whichever process the polls reach
        _, account = await a.post("/v1/accounts", {"provider": "testprov", "auth_mode": "qrcode",
                                                 "provider_data": {"api_id": 1, "api_hash": "h"}})
        qr = account["id"]
        status, body = await b.post(f"/v1/accounts/{qr}/auth/session/qr/start")
        assert status == 200 and body["status"] == "awaiting_qr_scan", body
        status, body = await a.post(f"/v1/accounts/{qr}/auth/session/qr/check")
        assert status == 200 and body["status"] == "awaiting_qr_scan", body
        b_plugin.provider.qr_script[qr] = AUTHORIZED
        status, body = await a.post(f"/v1/accounts/{qr}/auth/session/qr/check")
        assert status == 200 and body["status"] == "authorized", body
        assert [c[1] for c in b_plugin.provider.calls if c[0] == qr] == \
            ["qr/start", "qr/check", "qr/check"]
        assert not [c for c in a_plugin.provider.calls if c[0] == qr]

        # an owner that stopped answering (hung, or died before its lease ran out)
        calls = sup(a).calls._task
        assert calls is not None
        calls.cancel()
        started = time.monotonic()
        status, body = await b.post(f"/v1/accounts/{acc}/messages", {"chat_id": 42,
                                                                     "text": "lost"})
        waited = time.monotonic() - started
        assert status == 503 and body["error"]["code"] == "runtime_unavailable", body
        assert body["error"]["retry_after"] == 5
        assert CLAIM_TIMEOUT <= waited < CLAIM_TIMEOUT + 3
        started = time.monotonic()  # the next call to that process is answered at once
        status, body = await b.post(f"/v1/accounts/{acc}/messages", {"chat_id": 42,
                                                                     "text": "lost too"})
        assert status == 503 and body["error"]["code"] == "runtime_unavailable", body
        assert time.monotonic() - started < 1.0
        assert len(a_plugin.provider.sent) == 1, "a withdrawn call never runs"
        async with b.gateway.db.read() as s:
            assert await s.scalar(select(func.count()).select_from(RuntimeCall)) == 0


async def _true(value: bool) -> bool:
    return value
