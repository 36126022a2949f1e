"""Webhook endpoints through the HTTP API: real receivers on 127.0.0.1, signatures verified
with ``standardwebhooks``, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook, WebhookVerificationError

from tests.webhooks.api_support import (
    authorize,
    create_endpoint,
    hooks_app,
    new_account,
    settle,
    types,
)
from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import emit_events, endpoint_toml, new_secret, verify, wait_until
from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import append_new_key, load_keyring
from unifyport.crypto.rotate import rotate_secrets
from unifyport.db.database import Database
from unifyport.webhooks.models import WebhookEndpoint


async def test_endpoint_receives_the_events_it_asked_for_and_no_others(
        data_dir: Path, database_url: str) -> None:
    messages, everything = await Receiver().start(), await Receiver().start()
    try:
        async with hooks_app(data_dir, database_url) as (api, _plugin):
            only = await create_endpoint(api, messages.url, events=["message.*"],
                                         description="messages")
            every = await create_endpoint(api, everything.url)
            await emit_events(api.gateway, 1, "account.authorized", "acc_a")
            await emit_events(api.gateway, 2, "message.received", "acc_a")
            await everything.wait_for(3)
            await messages.wait_for(2)
            await settle()
            assert types(messages) == ["message.received"] * 2
            assert sorted(types(everything)) == ["account.authorized", *["message.received"] * 2]
            for rec in messages.received:
                verify(only["secret"], rec)
            for rec in everything.received:
                verify(every["secret"], rec)
            status, listed = await api.get("/v1/webhooks")
            assert status == 200
            assert [(e["id"], e["source"]) for e in listed["data"]] == [
                (only["id"], "api"), (every["id"], "api")]
            assert "secret" not in listed["data"][0]
            status, one = await api.get(f"/v1/webhooks/{only['id']}")
            assert status == 200 and one["succeeded"] == 2 and one["events"] == ["message.*"]
    finally:
        await messages.stop()
        await everything.stop()


async def test_account_limited_endpoint_and_custom_headers(data_dir: Path, database_url: str,
                                                         receiver: Receiver) -> None:
    async with hooks_app(data_dir, database_url) as (api, _plugin):
        a, b = (await new_account(api))["id"], (await new_account(api))["id"]
        ep = await create_endpoint(api, receiver.url, account_ids=[a],
                                   headers={"X-Tenant": "t-1"})
        assert ep["account_ids"] == [a] and ep["headers"] == ["X-Tenant"]
        await emit_events(api.gateway, 1, "message.received", b)
        [mine] = await emit_events(api.gateway, 1, "message.received", a)
        [rec] = await receiver.wait_for(1)
        await settle()
        assert len(receiver.received) == 1 and rec.id == mine
        assert verify(ep["secret"], rec)["data"]["account_id"] == a
        assert rec.headers["x-tenant"] == "t-1"


async def test_rotate_secret_signs_with_both_during_the_grace(
        data_dir: Path, database_url: str, receiver: Receiver) -> None:
    async with hooks_app(data_dir, database_url) as (api, _plugin):
        ep = await create_endpoint(api, receiver.url)
        old = ep["secret"]
        status, rotated = await api.post(f"/v1/webhooks/{ep['id']}/rotate-secret",
                                         {"grace_period": 3600})
        assert status == 200 and rotated["secret"] != old
        await emit_events(api.gateway, 1)
        [rec] = await receiver.wait_for(1)
        verify(rotated["secret"], rec)
        verify(old, rec)  # during the grace period the old secret signs too
        assert len(rec.headers["webhook-signature"].split()) == 2
        status, again = await api.post(f"/v1/webhooks/{ep['id']}/rotate-secret",
                                       {"grace_period": 0})
        assert status == 200
        await emit_events(api.gateway, 1)
        _first, second = await receiver.wait_for(2)
        verify(again["secret"], second)
        verify(old, second)  # its own grace period is not over
        with pytest.raises(WebhookVerificationError):
            Webhook(rotated["secret"]).verify(second.body, second.headers)  # no grace asked


async def test_account_created_with_a_webhook_gets_its_events(
        data_dir: Path, database_url: str, receiver: Receiver) -> None:
    async with hooks_app(data_dir, database_url) as (api, plugin):
        account = await new_account(api, webhook={"url": receiver.url})
        hook = account["webhook"]
        assert hook["account_ids"] == [account["id"]] and hook["secret"].startswith("whsec_")
        other = await new_account(api)
        await authorize(api, other["id"])  # another account's events stay away
        await authorize(api, account["id"])
        status, _ = await api.post(f"/v1/accounts/{account['id']}/runtime/start")
        assert status == 200

        async def running() -> bool:
            return account["id"] in plugin.provider.runtime_events
        await wait_until(running, what="runtime")
        plugin.provider.control(account["id"], "hello")

        async def got_message() -> bool:
            return "message.received" in types(receiver)
        await wait_until(got_message, within=15, what="message.received delivered")
        payloads = [verify(hook["secret"], r) for r in receiver.received]
        assert {p["data"]["account_id"] for p in payloads} == {account["id"]}
        seen = [p["type"] for p in payloads]
        assert "account.auth.state_changed" in seen and "account.authorized" in seen
        assert "account.runtime.state_changed" in seen
        # Deleting the account deletes its endpoint.
        status, _ = await api.delete(f"/v1/accounts/{account['id']}")
        assert status == 204
        status, _ = await api.get(f"/v1/webhooks/{hook['id']}")
        assert status == 404


async def test_deleting_an_endpoint_stops_deliveries_and_counts_the_dropped(
        data_dir: Path, database_url: str, receiver: Receiver) -> None:
    receiver.default = Reply(status=500)
    async with hooks_app(data_dir, database_url) as (api, _plugin):
        ep = await create_endpoint(api, receiver.url)
        await emit_events(api.gateway, 3)
        await receiver.wait_for(3)  # each failed once; retries are pending

        receiver.default = Reply(status=200, delay=30)  # the next attempt hangs: leased
        await emit_events(api.gateway, 1)
        await receiver.wait_for(4)
        status, body = await api.delete(f"/v1/webhooks/{ep['id']}")
        assert status == 200, body
        assert body == {"id": ep["id"], "deleted": True, "dropped_deliveries": 4}
        count = len(receiver.received)
        await emit_events(api.gateway, 2)
        await settle(1.5)
        assert len(receiver.received) == count
        status, _ = await api.get(f"/v1/webhooks/{ep['id']}")
        assert status == 404
        status, listed = await api.get("/v1/webhooks")
        assert listed["data"] == []


async def test_test_event_goes_to_one_endpoint(data_dir: Path, receiver: Receiver) -> None:
    other = await Receiver().start()
    try:
        async with hooks_app(data_dir) as (api, _plugin):
            ep = await create_endpoint(api, receiver.url, events=["message.*"])
            await create_endpoint(api, other.url)
            status, body = await api.post(f"/v1/webhooks/{ep['id']}/test")
            assert status == 202
            [rec] = await receiver.wait_for(1)
            payload = verify(ep["secret"], rec)
            assert payload["type"] == "webhook.test" and rec.id == body["event_id"]
            await settle()
            assert other.received == []
    finally:
        await other.stop()


async def test_validation_and_config_endpoints(data_dir: Path, receiver: Receiver) -> None:
    secret = new_secret()
    toml = endpoint_toml("from-file", receiver.url, secret)
    async with hooks_app(data_dir, toml="[plugins.webhook]\n" + toml) as (api, _plugin):
        status, body = await api.post("/v1/webhooks", {"url": "http://10.1.2.3/hook"})
        assert status == 422 and body["error"]["code"] == "url_not_allowed"
        status, body = await api.post("/v1/webhooks", {"url": receiver.url, "events": ["a b"]})
        assert status == 422 and body["error"]["code"] == "validation_failed"
        status, body = await api.post("/v1/webhooks", {"url": receiver.url,
                                                       "headers": {"webhook-id": "x"}})
        assert status == 422
        status, body = await api.post("/v1/webhooks", {"url": receiver.url,
                                                       "account_ids": ["acc_nope"]})
        assert status == 404
        status, listed = await api.get("/v1/webhooks")
        [conf] = listed["data"]
        assert (conf["id"], conf["source"], conf["url"]) == ("from-file", "config",
                                                             receiver.url)
        for method, path in (("PATCH", "/v1/webhooks/from-file"),
                             ("DELETE", "/v1/webhooks/from-file"),
                             ("POST", "/v1/webhooks/from-file/rotate-secret")):
            status, body = await api.call(method, path, {})
            assert status == 409 and body["error"]["code"] == "read_only"
        ep = await create_endpoint(api, receiver.url, events=["message.*"])
        status, body = await api.call("PATCH", f"/v1/webhooks/{ep['id']}",
                                      {"url": "http://169.254.169.254/"})
        assert status == 422 and body["error"]["code"] == "url_not_allowed"
        status, body = await api.call("PATCH", f"/v1/webhooks/{ep['id']}",
                                      {"events": ["account.*"], "description": "d"})
        assert status == 200 and body["events"] == ["account.*"] and body["description"] == "d"
        status, body = await api.post(f"/v1/webhooks/{ep['id']}/disable")
        assert status == 200 and body["enabled"] is False
        status, body = await api.post(f"/v1/webhooks/{ep['id']}/enable")
        assert status == 200 and body["enabled"] is True
        status, body = await api.post(f"/v1/webhooks/{ep['id']}/recover",
                                      {"since": "2020-01-01T00:00:00Z"})
        assert status == 202 and body["requeued"] == 0
        await emit_events(api.gateway, 1, "message.received")
        [rec] = await receiver.wait_for(1)  # the configured endpoint; the other asks account.*
        assert json.loads(rec.body)["type"] == "message.received"
        verify(secret, rec)


async def test_master_key_rotation_reseals_endpoints(data_dir: Path, database_url: str,
                                                    receiver: Receiver) -> None:
    async with hooks_app(data_dir, database_url) as (api, _plugin):
        ep = await create_endpoint(api, receiver.url, headers={"X-Token": "t0ps3cret"})
        settings = api.gateway.settings
        first = api.gateway.box.sealing_key_id
    url = make_url(settings.storage.effective_database_url)
    if url.get_backend_name() == "sqlite":  # sealed at rest
        raw = Path(str(url.database)).read_bytes()
        assert len(raw) > 10_000
        assert ep["secret"].encode() not in raw and b"t0ps3cret" not in raw
    newest = append_new_key(settings)
    db = Database(settings.storage.effective_database_url)
    try:
        report = await rotate_secrets(db, SecretBox(load_keyring(settings)))
        assert report.endpoints_rotated == 1 and newest.key_id != first
        async with db.read() as s:
            [row] = (await s.scalars(select(WebhookEndpoint))).all()
        assert row.key_id == newest.key_id
    finally:
        await db.dispose()
    async with hooks_app(data_dir, database_url) as (api, _plugin):
        status, _ = await api.post(f"/v1/webhooks/{ep['id']}/test")
        assert status == 202
        [rec] = await receiver.wait_for(1)
        verify(ep["secret"], rec)
        assert rec.headers["x-token"] == "t0ps3cret"


async def test_new_url_restarts_the_failure_clock(data_dir: Path, receiver: Receiver) -> None:
    receiver.default = Reply(status=500)
    async with hooks_app(data_dir) as (api, _plugin):
        ep = await create_endpoint(api, receiver.url)
        await emit_events(api.gateway, 1)
        await receiver.wait_for(1)

        async def failing() -> bool:
            return (await api.get(f"/v1/webhooks/{ep['id']}"))[1]["failing_since"] is not None
        await wait_until(failing, what="failing_since set")
        status, body = await api.call("PATCH", f"/v1/webhooks/{ep['id']}",
                                      {"url": receiver.url + "/v2"})
        assert status == 200 and body["failing_since"] is None and body["url"].endswith("/v2")


async def test_a_stale_read_of_the_endpoints_never_undoes_a_change(
        data_dir: Path, database_url: str, receiver: Receiver) -> None:
    """The engine's cycles and an API change re-read the endpoints concurrently; a read taken
    before a rotation and finishing after it must not put the old secret back (seen as a
    delivery signed with the old secret alone right after a rotation, on PostgreSQL)."""
    from unifyport.webhooks.sealing import secret_bytes
    from unifyport.webhooks.service import _engine

    async with hooks_app(data_dir, database_url) as (api, _plugin):
        ep = await create_endpoint(api, receiver.url)
        engine = _engine(api.gateway)
        assert engine is not None and engine.directory is not None
        directory, real_db = engine.directory, engine.directory.db
        gate, read = asyncio.Event(), asyncio.Event()

        class ReadThenHold:  # the real read, held before it returns (forces the interleaving)
            async def query(self, fn: Any) -> Any:
                rows = await real_db.query(fn)
                read.set()
                await gate.wait()
                return rows

        directory.db = ReadThenHold()  # type: ignore[assignment]
        stale = asyncio.ensure_future(directory.refresh())
        await asyncio.wait_for(read.wait(), 10)
        directory.db = real_db
        status, rotated = await api.post(f"/v1/webhooks/{ep['id']}/rotate-secret",
                                         {"grace_period": 0})
        assert status == 200
        gate.set()
        await asyncio.wait_for(stale, 10)
        endpoint = directory.get(ep["id"])
        assert endpoint is not None and endpoint.keys == (secret_bytes(rotated["secret"]),)
