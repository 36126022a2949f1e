"""End-to-end delivery: events written by the core reach a real receiver, signed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import (
    config_toml,
    emit_events,
    endpoint_toml,
    event_deliveries,
    new_secret,
    verify,
    wait_for_status,
    wait_until,
    webhook_app,
)


async def test_signed_delivery_verifies_with_standardwebhooks(
    tmp_path: Path, receiver: Receiver, database_url: str
) -> None:
    secret = new_secret()
    toml = config_toml(endpoint_toml("main", receiver.url, secret))
    async with webhook_app(tmp_path / "data", toml, database_url) as (api, _sink):
        [event_id] = await emit_events(api.gateway, 1, "message.received")
        [rec] = await receiver.wait_for(1)
        payload = verify(secret, rec)
        assert rec.id == event_id
        assert payload["type"] == "message.received"
        assert payload["data"] == {"account_id": "acc_test", "n": 0}
        assert payload["timestamp"].endswith("Z")
        assert rec.headers["content-type"] == "application/json"
        await wait_for_status(api, event_id, "succeeded", "delivery marked succeeded")
        [delivery] = await event_deliveries(api, event_id)
        assert delivery["endpoint"] == "main"
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
        assert delivery["attempts"][0]["succeeded"] is True


async def test_500_then_200_retries_on_the_schedule(
    tmp_path: Path, receiver: Receiver, database_url: str
) -> None:
    secret = new_secret()
    receiver.script = [Reply(500)]
    toml = config_toml(endpoint_toml("main", receiver.url, secret), schedule=[0, 60, 120])
    async with webhook_app(tmp_path / "data", toml, database_url) as (api, sink):
        [event_id] = await emit_events(api.gateway)
        await receiver.wait_for(1)

        async def retry_scheduled() -> bool:
            d = await event_deliveries(api, event_id)
            return bool(d and d[0]["attempts"])

        await wait_until(retry_scheduled, what="first attempt recorded")
        [d] = await event_deliveries(api, event_id)
        assert d["status"] == "pending"
        assert d["attempts"][0]["status_code"] == 500
        assert d["last_error"] == "HTTP 500"
        clock = sink.clock
        expected = clock.now().timestamp() + 60
        due = d["next_attempt_at"].replace("Z", "+00:00")
        assert abs(datetime.fromisoformat(due).timestamp() - expected) < 0.001
        clock.advance(59.9)  # type: ignore[attr-defined]
        assert await sink.queue.due(clock.now()) == set()
        clock.advance(0.1)  # type: ignore[attr-defined]
        assert await sink.queue.due(clock.now()) == {"main"}
        first, second = await receiver.wait_for(2)
        assert first.id == second.id == event_id
        verify(secret, first)
        verify(secret, second)
        await wait_for_status(api, event_id, "succeeded", "success after the retry")
        [d] = await event_deliveries(api, event_id)
        assert [a["status_code"] for a in d["attempts"]] == [500, 200]
        assert [a["attempt"] for a in d["attempts"]] == [1, 2]
