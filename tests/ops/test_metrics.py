"""``GET /metrics`` after a login, a reconnect, messages and webhook deliveries to a real
receiver: each counter moved by exactly what happened; ``GET /ready`` names components."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import config_toml, endpoint_toml, new_secret, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CODE = {"provider": "testprov", "auth_mode": "code",
        "provider_data": {"api_id": 1, "api_hash": "h", "phone": "+15551234567"}}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def gw(data_dir: Path, plugin: TestPlugin, receiver: Receiver) -> AsyncIterator[Api]:
    toml = '[plugins]\ndisabled = ["telegram"]\n' + config_toml(
        endpoint_toml("main", receiver.url, new_secret()), schedule=(0, 1, 1))
    async with running(make_settings(data_dir, toml), (("testprov", plugin),)) as api:
        yield api


async def scrape(api: Api) -> tuple[Samples, set[str]]:
    response = await api.client.get("/metrics", headers={"Authorization": f"Bearer {api.key}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples: Samples = {}
    processes = set()
    for family in text_string_to_metric_families((await response.get_data()).decode()):
        for s in family.samples:
            labels = dict(s.labels)
            processes.add(labels.pop("process", ""))
            samples[s.name, frozenset(labels.items())] = s.value
    return samples, processes


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_counters_move_by_what_happened(gw: Api, provider: TestProvider,
                                              receiver: Receiver) -> None:
    api = gw
    before, _ = await scrape(api)
    status, account = await api.post("/v1/accounts", CODE)
    acc = account["id"]
    await api.post(f"/v1/accounts/{acc}/auth/session/start")
    status, body = await api.post(f"/v1/accounts/{acc}/auth/session/code", {"code": "00000"})
    assert status == 400  # a wrong code first
    status, body = await api.post(f"/v1/accounts/{acc}/auth/session/code", {"code": "12345"})
    assert body["status"] == "authorized"
    await api.post(f"/v1/accounts/{acc}/runtime/start")

    async def runtime(status: str) -> bool:
        return (await api.get(f"/v1/accounts/{acc}/runtime"))[1]["status"] == status

    await wait_until(lambda: runtime("running"), what="running")
    provider.control(acc, "drop")  # one reconnect
    await wait_until(lambda: runtime("reconnecting"), what="reconnecting")
    await wait_until(lambda: runtime("running"), what="running again")
    provider.control(acc, "inbound-1")
    status, _ = await api.post(f"/v1/accounts/{acc}/messages", {"chat_id": 5, "text": "hi"})
    assert status == 201

    _, page = await api.get("/v1/events?limit=200")
    events = page["data"]

    async def all_delivered() -> bool:
        _, page = await api.get("/v1/events?limit=200")
        if len(page["data"]) != len(events):
            events[:] = page["data"]
        _, endpoints = await api.get("/v1/webhooks/endpoints")
        main = endpoints["data"][0]
        return bool(main["succeeded"] == len(events) and main["pending"] == 0)

    await wait_until(all_delivered, what="every event delivered")
    await asyncio.sleep(0.05)
    after, processes = await scrape(api)

    # Events: exactly those committed, by type.
    by_type: dict[str, int] = {}
    for e in events:
        by_type[e["type"]] = by_type.get(e["type"], 0) + 1
    assert {"account.created", "account.authorized", "message.received", "message.sent"} <= set(
        by_type)
    for type_, n in by_type.items():
        assert delta(before, after, "unifyport_events_emitted_total", type=type_) == n, type_
    assert by_type["message.sent"] == by_type["message.received"] == 1
    assert delta(before, after, "unifyport_runtime_reconnects_total") == 1

    # HTTP: by route template and status; the first scrape itself counted once.
    route = "/v1/accounts/<account_id>"
    assert delta(before, after, "unifyport_http_requests_total", method="POST",
                 route="/v1/accounts", status="201") == 1
    assert delta(before, after, "unifyport_http_requests_total", method="POST",
                 route=f"{route}/messages", status="201") == 1
    codes = {k: v for k, v in after.items() if k[0] == "unifyport_http_requests_total"
             and ("route", f"{route}/auth/session/code") in k[1]}
    assert sorted((dict(k[1])["status"], v) for k, v in codes.items()) == [("200", 1), ("400", 1)]
    assert delta(before, after, "unifyport_http_requests_total", method="GET",
                 route="/metrics", status="200") == 1
    assert delta(before, after, "unifyport_http_request_duration_seconds_count", method="POST",
                 route=f"{route}/messages") == 1

    # Deliveries: one successful attempt per event, none waiting.
    delivered = len(receiver.received)
    assert delivered == len(events)
    assert delta(before, after, "unifyport_delivery_attempts_total", sink="webhook",
                 target="main", result="succeeded") == delivered
    assert delta(before, after, "unifyport_delivery_attempt_duration_seconds_count",
                 sink="webhook", target="main") == delivered
    for state in ("pending", "in_flight", "failed"):
        assert value(after, "unifyport_deliveries", sink="webhook", target="main",
                     state=state) == 0
    assert value(after, "unifyport_delivery_target_disabled", sink="webhook", target="main") == 0
    assert value(after, "unifyport_outbox_lag_seconds") == 0

    # Gauges read from the database.
    assert value(after, "unifyport_accounts", provider="testprov", status="authorized") == 1
    assert value(after, "unifyport_runtimes", provider="testprov", status="running") == 1
    assert value(after, "unifyport_runtimes_here") == 1
    assert ("unifyport_db_pool_connections", frozenset({("state", "in_use")})) in after
    assert len(processes) == 1 and "" not in processes


async def test_outbox_lag_and_pending_deliveries(gw: Api, receiver: Receiver) -> None:
    """A receiver that fails: the delivery stays pending (or in flight), the lag grows."""
    from tests.webhooks.receiver import Reply

    receiver.default = Reply(status=500)
    status, _ = await gw.post("/v1/accounts", CODE)
    assert status == 201
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    samples, _ = await scrape(gw)
    waiting = sum(value(samples, "unifyport_deliveries", sink="webhook", target="main", state=s)
                  for s in ("pending", "in_flight"))
    assert waiting == 1
    assert value(samples, "unifyport_outbox_lag_seconds") > 0.2
    assert value(samples, "unifyport_delivery_attempts_total", sink="webhook", target="main",
                 result="retry") >= 1


async def test_metrics_needs_a_key_and_ready_names_components(gw: Api) -> None:
    assert (await gw.client.get("/metrics")).status_code == 401
    response = await gw.client.get("/ready")
    body = await response.get_json()
    assert response.status_code == 200
    assert body["components"] == {"database": "ok", "sinks": "ok", "runtime": "ok"}
    for task in gw.gateway.sink_tasks:
        task.cancel()
    await asyncio.gather(*gw.gateway.sink_tasks, return_exceptions=True)
    response = await gw.client.get("/ready")
    body = await response.get_json()
    assert response.status_code == 503 and body["error"]["code"] == "not_ready"
    assert body["error"]["components"]["sinks"] == "stopped: webhook"
    assert body["error"]["components"]["database"] == "ok"


async def test_two_servers_on_one_postgresql_count_their_own(tmp_path: Path,
                                                            postgres_url: str) -> None:
    """Counters are per process (registry); database gauges are the same everywhere."""
    # Two gateways on one database and master key, as two processes would be.
    settings = make_settings(tmp_path / "one", CORE_ONLY, database_url=postgres_url)
    async with running(settings, (("testprov", TestPlugin()),)) as a:
        async with running(settings, (("testprov", TestPlugin()),)) as b:
            before_a, _ = await scrape(a)
            before_b, _ = await scrape(b)
            assert (await a.post("/v1/accounts", CODE))[0] == 201
            after_a, _ = await scrape(a)
            after_b, _ = await scrape(b)
    name = "unifyport_events_emitted_total"
    assert delta(before_a, after_a, name, type="account.created") == 1
    assert delta(before_b, after_b, name, type="account.created") == 0
    for samples in (after_a, after_b):
        assert value(samples, "unifyport_accounts", provider="testprov", status="pending") == 1
