"""Redeliver one event and recover failed ones: the same webhook-id, a fresh timestamp."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.gateway import make_settings, running
from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import (
    config_toml,
    delivery_status,
    emit_events,
    endpoint_state,
    endpoint_toml,
    event_deliveries,
    new_secret,
    verify,
    wait_for_status,
    webhook_app,
)


async def test_redeliver_keeps_webhook_id_and_signs_a_fresh_timestamp(
    tmp_path: Path, receiver: Receiver, database_url: str
) -> None:
    secret = new_secret()
    toml = config_toml(endpoint_toml("main", receiver.url, secret))
    async with webhook_app(tmp_path / "data", toml, database_url) as (api, _sink):
        [eid] = await emit_events(api.gateway)
        [first] = await receiver.wait_for(1)
        await wait_for_status(api, eid, "succeeded", "first delivery recorded")
        # webhook-timestamp has a one-second resolution: redeliver from the next second on
        await asyncio.sleep(int(first.headers["webhook-timestamp"]) + 1 - time.time())
        status, body = await api.post(f"/v1/events/{eid}/redeliver")
        assert status == 202
        assert body["queued"] == [{"sink": "webhook", "endpoint": "main", "enabled": True}]
        _, second = await receiver.wait_for(2)
        await wait_for_status(api, eid, "succeeded", "redelivery recorded")
        [d] = await event_deliveries(api, eid)
    assert first.id == second.id == eid
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    verify(secret, first)
    verify(secret, second)
    assert [a["status_code"] for a in d["attempts"]] == [200, 200]


async def test_redeliver_errors(tmp_path: Path, receiver: Receiver) -> None:
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret(), ["message.*"]))
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        status, body = await api.post("/v1/events/evt_nope/redeliver")
        assert status == 404 and body["error"]["code"] == "not_found"
        [eid] = await emit_events(api.gateway, 1, "account.created")
        status, body = await api.post(f"/v1/events/{eid}/redeliver")
        assert status == 409 and body["error"]["code"] == "no_matching_endpoint"


async def test_redeliver_reaches_an_endpoint_added_after_the_event(
    tmp_path: Path, receiver: Receiver
) -> None:
    secret = new_secret()
    data_dir = tmp_path / "data"
    async with running(make_settings(data_dir)) as api:  # no endpoint yet
        [eid] = await emit_events(api.gateway)
    toml = config_toml(endpoint_toml("late", receiver.url, secret))
    async with webhook_app(data_dir, toml) as (api, _sink):
        [eid2] = await emit_events(api.gateway)
        [rec] = await receiver.wait_for(1)
        assert rec.id == eid2  # a new endpoint gets events from its creation on
        status, _ = await api.post(f"/v1/events/{eid}/redeliver", {"endpoint": "late"})
        assert status == 202
        _, old = await receiver.wait_for(2)
    assert old.id == eid
    verify(secret, old)


async def test_recover_since_requeues_only_failed_after_the_time(
    tmp_path: Path, receiver: Receiver
) -> None:
    secret = new_secret()
    receiver.default = Reply(500)
    toml = config_toml(endpoint_toml("main", receiver.url, secret), schedule=[0])
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        [early] = await emit_events(api.gateway)
        await receiver.wait_for(1)
        await wait_for_status(api, early, "failed", "early event failed")
        status, body = await api.get(f"/v1/events/{early}")
        cutoff = body["timestamp"]
        await asyncio.sleep(0.002)
        later = await emit_events(api.gateway, 2)
        await receiver.wait_for(3)
        for eid in later:
            await wait_for_status(api, eid, "failed", "later events failed")
        receiver.default = Reply(200)
        _, body = await api.get(f"/v1/events/{later[0]}")
        status, body = await api.post("/v1/webhooks/endpoints/main/recover",
                                      {"since": body["timestamp"]})
        assert status == 202 and body["requeued"] == 2
        received = await receiver.wait_for(5)
        assert sorted(r.id for r in received[3:]) == sorted(later)
        for r in received[3:]:
            verify(secret, r)
        for eid in later:
            await wait_for_status(api, eid, "succeeded", "recovered delivered")
        assert await delivery_status(api, early) == "failed"
        assert cutoff < body["since"]
        state = await endpoint_state(api, "main")
        assert state["failed"] == 1 and state["succeeded"] == 2


async def test_recover_and_enable_validate(tmp_path: Path, receiver: Receiver) -> None:
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret()))
    async with webhook_app(tmp_path / "data", toml) as (api, _sink):
        status, body = await api.post("/v1/webhooks/endpoints/main/recover", {})
        assert status == 422 and body["error"]["fields"] == {"since": "field required"}
        status, body = await api.post("/v1/webhooks/endpoints/main/recover",
                                      {"since": "2024-01-01T00:00:00"})
        assert status == 422
        status, body = await api.post("/v1/webhooks/endpoints/nope/recover",
                                      {"since": "2024-01-01T00:00:00Z"})
        assert status == 404
        status, body = await api.post("/v1/webhooks/endpoints/nope/enable")
        assert status == 404
        status, body = await api.call("GET", "/v1/webhooks/endpoints", headers={
            "Authorization": "Bearer wrong"})
        assert status == 401
