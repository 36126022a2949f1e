"""Delivery semantics: 2xx only, Retry-After, 410, redirects, timeouts, exhaustion, disable."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import (
    config_toml,
    emit_events,
    endpoint_state,
    endpoint_toml,
    event_deliveries,
    new_secret,
    verify,
    wait_for_status,
    wait_until,
    webhook_app,
)
from unifyport.delivery.clock import ManualClock


def _at(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _attempts(api: Any, event_id: str, count: int) -> dict[str, Any]:
    """The event's only delivery once it has ``count`` attempts recorded."""
    async def check() -> bool:
        d = await event_deliveries(api, event_id)
        return bool(d) and len(d[0]["attempts"]) >= count and (
            d[0]["status"] != "pending" or d[0]["next_attempt_at"] is not None)

    await wait_until(check, what=f"{count} attempt(s) recorded")
    [d] = await event_deliveries(api, event_id)
    return d


async def test_429_retry_after_replaces_the_schedule(tmp_path: Path, receiver: Receiver) -> None:
    secret = new_secret()
    receiver.script = [Reply(429, {"Retry-After": "7"})]
    toml = config_toml(endpoint_toml("main", receiver.url, secret), schedule=[0, 600])
    async with webhook_app(tmp_path / "data", toml) as (api, sink):
        clock = sink.clock
        assert isinstance(clock, ManualClock)
        [eid] = await emit_events(api.gateway)
        d = await _attempts(api, eid, 1)
        assert d["attempts"][0]["status_code"] == 429
        assert abs(_at(d["next_attempt_at"]) - (clock.now().timestamp() + 7)) < 0.001
        clock.advance(7)
        _first, second = await receiver.wait_for(2)
        assert second.id == eid
        verify(secret, second)


async def test_503_with_http_date_retry_after(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script = [Reply(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})]
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret()), schedule=[0, 600])
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        [eid] = await emit_events(api.gateway)
        # A date in the past means "now": retried without moving the clock past the 600 s.
        first, second = await receiver.wait_for(2)
        assert first.id == second.id == eid
        d = await _attempts(api, eid, 2)
        assert [a["status_code"] for a in d["attempts"]] == [503, 200]


async def test_410_disables_the_endpoint_and_enable_plus_recover_delivers(
    tmp_path: Path, receiver: Receiver
) -> None:
    secret = new_secret()
    receiver.script = [Reply(410)]
    toml = config_toml(endpoint_toml("main", receiver.url, secret))
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        [gone] = await emit_events(api.gateway)
        await receiver.wait_for(1)

        async def disabled() -> bool:
            return (await endpoint_state(api, "main"))["enabled"] is False

        await wait_until(disabled, what="endpoint disabled")
        state = await endpoint_state(api, "main")
        assert "410" in state["disabled_reason"]
        assert (await event_deliveries(api, gone))[0]["status"] == "failed"
        [while_disabled] = await emit_events(api.gateway)
        await wait_for_status(api, while_disabled, "failed",
                              "delivery to a disabled endpoint marked failed")
        assert len(receiver.received) == 1
        status, body = await api.post("/v1/webhooks/endpoints/main/enable")
        assert status == 200 and body["enabled"] is True and body["disabled_reason"] is None
        status, body = await api.post("/v1/webhooks/endpoints/main/recover",
                                      {"since": "2000-01-01T00:00:00Z"})
        assert status == 202 and body["requeued"] == 2
        received = await receiver.wait_for(3)
        assert sorted(r.id for r in received[1:]) == sorted([gone, while_disabled])
        for r in received[1:]:
            verify(secret, r)


async def test_redirect_is_a_failure_and_not_followed(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script = [Reply(302, {"Location": "/elsewhere"})]
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret()))
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        [eid] = await emit_events(api.gateway)
        d = await _attempts(api, eid, 1)
        assert d["status"] == "pending"
        assert d["attempts"][0]["status_code"] == 302
        assert d["attempts"][0]["succeeded"] is False
        assert "not followed" in d["attempts"][0]["error"]
        assert [r.path for r in receiver.received] == ["/hook"]


async def test_slow_receiver_times_out_then_succeeds(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script = [Reply(200, delay=3.0)]
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret(), timeout="300ms"))
    async with webhook_app(tmp_path / "data", toml) as (api, sink):
        [eid] = await emit_events(api.gateway)
        d = await _attempts(api, eid, 1)
        assert d["status"] == "pending"
        assert d["attempts"][0]["status_code"] is None
        assert d["attempts"][0]["error"].startswith("timeout")
        assert isinstance(sink.clock, ManualClock)
        sink.clock.advance(60)
        await wait_for_status(api, eid, "succeeded", "second attempt succeeded")


async def test_schedule_exhausted_marks_failed(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(500)
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret()), schedule=[0, 30])
    async with webhook_app(tmp_path / "data", toml) as (api, sink):
        [eid] = await emit_events(api.gateway)
        await _attempts(api, eid, 1)
        assert isinstance(sink.clock, ManualClock)
        sink.clock.advance(30)
        d = await _attempts(api, eid, 2)
        assert d["status"] == "failed"
        assert d["next_attempt_at"] is None
        assert [a["status_code"] for a in d["attempts"]] == [500, 500]
        state = await endpoint_state(api, "main")
        assert state["failed"] == 1 and state["pending"] == 0
        assert state["failing_since"] is not None


async def test_endpoint_failing_too_long_is_disabled_then_enabled(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.default = Reply(500)
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret()),
                       schedule=[0, 1800, 1800, 1800], disable_after="1h")
    async with webhook_app(tmp_path / "data", toml) as (api, sink):
        clock = sink.clock
        assert isinstance(clock, ManualClock)
        [eid] = await emit_events(api.gateway)
        await _attempts(api, eid, 1)
        state = await endpoint_state(api, "main")
        assert state["enabled"] is True and state["failing_since"] is not None
        clock.advance(1800)
        await _attempts(api, eid, 2)
        assert (await endpoint_state(api, "main"))["enabled"] is True
        clock.advance(1800)

        async def disabled() -> bool:
            return (await endpoint_state(api, "main"))["enabled"] is False

        await wait_until(disabled, what="endpoint disabled after 1 h of failures")
        state = await endpoint_state(api, "main")
        assert "failing continuously" in state["disabled_reason"]
        receiver.default = Reply(200)
        status, body = await api.post("/v1/webhooks/endpoints/main/enable")
        assert status == 200
        assert body["enabled"] is True and body["failing_since"] is None
        [later] = await emit_events(api.gateway)

        async def delivered() -> bool:  # (a retry of the first event may still arrive too)
            return any(r.id == later for r in receiver.received)

        await wait_until(delivered, what="an event after re-enabling delivered")


async def test_event_filters(tmp_path: Path) -> None:
    receivers = [await Receiver().start() for _ in range(3)]
    try:
        toml = config_toml(
            endpoint_toml("messages", receivers[0].url, new_secret(), ["message.*"]),
            endpoint_toml("accounts", receivers[1].url, new_secret(), ["account.*"]),
            endpoint_toml("created", receivers[2].url, new_secret(), ["account.created"]),
        )
        async with webhook_app(tmp_path / "data", toml) as (api, _sink):
            for t in ("message.received", "account.created", "account.auth.state_changed",
                      "message.sent"):
                await emit_events(api.gateway, 1, t)
            msgs = await receivers[0].wait_for(2)
            accs = await receivers[1].wait_for(2)
            created = await receivers[2].wait_for(1)
            async def settled() -> bool:
                _, b = await api.get("/v1/webhooks/endpoints")
                return all(e["pending"] == 0 for e in b["data"])

            await wait_until(settled, what="all deliveries done")
        types = [[_type(r.body) for r in got] for got in (msgs, accs, created)]
        assert sorted(types[0]) == ["message.received", "message.sent"]
        assert sorted(types[1]) == ["account.auth.state_changed", "account.created"]
        assert types[2] == ["account.created"]
        assert [len(r.received) for r in receivers] == [2, 2, 1]
    finally:
        for r in receivers:
            await r.stop()


async def test_secret_rotation_signs_with_every_secret(tmp_path: Path, receiver: Receiver) -> None:
    old, new = new_secret(), new_secret()
    toml = config_toml(endpoint_toml("main", receiver.url, [old, new]))
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        await emit_events(api.gateway)
        [rec] = await receiver.wait_for(1)
    assert len(rec.headers["webhook-signature"].split(" ")) == 2
    verify(old, rec)
    verify(new, rec)


async def test_refused_address_is_recorded_not_sent(tmp_path: Path, receiver: Receiver) -> None:
    url = f"http://localhost:{receiver.port}/hook"  # a name that resolves to loopback
    toml = config_toml(endpoint_toml("main", url, new_secret()), allow="")
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        [eid] = await emit_events(api.gateway)
        d = await _attempts(api, eid, 1)
    assert d["attempts"][0]["error"].startswith("url_not_allowed")
    assert "loopback" in d["attempts"][0]["error"]
    assert receiver.received == []


def _type(body: bytes) -> str:
    value = json.loads(body)["type"]
    assert isinstance(value, str)
    return value
