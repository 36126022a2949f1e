"""Account-scoped API keys through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.gateway import Api
from tests.webhooks.api_support import authorize, create_endpoint, hooks_app, new_account
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import emit_events, wait_until


async def _key(api: Api, scopes: list[str], account_ids: list[str] | None) -> Api:
    status, body = await api.post("/v1/keys", {"name": "k", "scopes": scopes,
                                               "account_ids": account_ids})
    assert status == 201, body
    assert body["key"].startswith("upk_") and body["kind"] == (
        "admin" if scopes == ["admin"] else "scoped")
    return Api(api.app, api.client, body["key"])


def _code(result: tuple[int, Any]) -> tuple[int, str | None]:
    status, body = result
    return status, body["error"]["code"] if isinstance(body, dict) and "error" in body else None


async def test_scoped_key_sees_its_accounts_only(data_dir: Path, database_url: str) -> None:
    async with hooks_app(data_dir, database_url) as (admin, _plugin):
        mine, other = (await new_account(admin))["id"], (await new_account(admin))["id"]
        await authorize(admin, mine)
        await authorize(admin, other)
        reader = await _key(admin, ["read"], [mine])

        assert (await reader.get(f"/v1/accounts/{mine}"))[0] == 200
        assert _code(await reader.get(f"/v1/accounts/{other}")) == (404, "not_found")
        assert _code(await reader.get("/v1/accounts/acc_nope")) == (404, "not_found")
        assert _code(await reader.get(f"/v1/accounts/{other}/runtime")) == (404, "not_found")
        status, body = await reader.post(f"/v1/accounts/{mine}/runtime/start")
        assert (status, body["error"]["code"], body["error"]["scope"]) == (
            403, "forbidden", "control")
        assert "'control'" in body["error"]["message"]
        status, body = await reader.post(f"/v1/accounts/{mine}/messages",
                                         {"chat_id": "1", "text": "hi"})
        assert (status, body["error"]["scope"]) == (403, "send")
        # a foreign account is 404 before any scope question
        assert _code(await reader.post(f"/v1/accounts/{other}/runtime/start")) == (
            404, "not_found")

        status, page = await reader.get("/v1/accounts")
        assert status == 200 and [a["id"] for a in page["data"]] == [mine]
        status, events = await reader.get("/v1/events?limit=200")
        assert status == 200 and events["data"]
        assert {e["data"]["account_id"] for e in events["data"]} == {mine}
        status, events = await reader.get(f"/v1/events?account_id={other}")
        assert status == 200 and events["data"] == []
        status, all_events = await admin.get("/v1/events?limit=200")
        foreign = next(e for e in all_events["data"] if e["data"]["account_id"] == other)
        assert _code(await reader.get(f"/v1/events/{foreign['id']}")) == (404, "not_found")

        # admin-only routes
        for method, path, payload in (("POST", "/v1/keys", {"name": "x", "scopes": ["read"],
                                                           "account_ids": [mine]}),
                                      ("GET", "/v1/keys", None),
                                      ("POST", "/v1/accounts", {"provider": "testprov"}),
                                      ("DELETE", f"/v1/accounts/{mine}", None),
                                      ("GET", "/metrics", None)):
            status, body = await reader.call(method, path, payload)
            assert (status, body["error"]["scope"]) == (403, "admin"), (method, path)


async def test_scoped_key_webhooks_and_control(data_dir: Path, database_url: str,
                                               receiver: Receiver) -> None:
    async with hooks_app(data_dir, database_url) as (admin, _plugin):
        mine, other = (await new_account(admin))["id"], (await new_account(admin))["id"]
        everything = await create_endpoint(admin, receiver.url)
        theirs = await create_endpoint(admin, receiver.url, account_ids=[other])
        key = await _key(admin, ["read", "control", "send"], [mine])

        assert (await key.post(f"/v1/accounts/{mine}/auth/session/start"))[0] == 200
        status, body = await key.post("/v1/webhooks", {"url": receiver.url})
        assert status == 422 and "account_ids" in body["error"]["fields"]
        status, _ = await key.post("/v1/webhooks", {"url": receiver.url,
                                                    "account_ids": [mine, other]})
        assert status == 404
        own = await create_endpoint(key, receiver.url, account_ids=[mine])
        status, listed = await key.get("/v1/webhooks")
        assert [e["id"] for e in listed["data"]] == [own["id"]]
        for hidden in (everything["id"], theirs["id"]):
            assert (await key.get(f"/v1/webhooks/{hidden}"))[0] == 404
            assert (await key.delete(f"/v1/webhooks/{hidden}"))[0] == 404
        status, body = await key.call("PATCH", f"/v1/webhooks/{own['id']}",
                                      {"account_ids": None})
        assert status == 422
        status, listed = await admin.get("/v1/webhooks")
        assert len(listed["data"]) == 3
        # the deliveries of its account's event: only to the endpoints it sees
        [eid] = await emit_events(admin.gateway, 1, "message.received", mine)
        await receiver.wait_for(2)

        async def both_recorded() -> bool:
            return len((await admin.get(f"/v1/events/{eid}"))[1]["deliveries"]) == 2
        await wait_until(both_recorded, what="two deliveries")
        status, event = await key.get(f"/v1/events/{eid}")
        assert status == 200 and [d["endpoint"] for d in event["deliveries"]] == [own["id"]]
        status, body = await key.post(f"/v1/events/{eid}/redeliver")
        assert status == 202 and [q["endpoint"] for q in body["queued"]] == [own["id"]]
        status, body = await key.delete(f"/v1/webhooks/{own['id']}")
        assert status == 200 and body["deleted"] is True


async def test_keys_api_lists_and_revokes(data_dir: Path, database_url: str) -> None:
    async with hooks_app(data_dir, database_url) as (admin, _plugin):
        acc = (await new_account(admin))["id"]
        status, body = await admin.post("/v1/keys", {"name": "bad", "scopes": ["read"]})
        assert status == 422 and "account_ids" in body["error"]["fields"]["scopes"]
        status, body = await admin.post("/v1/keys", {"name": "bad",
                                                     "scopes": ["admin", "read"]})
        assert status == 422 and "admin" in body["error"]["fields"]["scopes"]
        status, _ = await admin.post("/v1/keys", {"name": "bad", "scopes": ["read"],
                                                  "account_ids": ["acc_nope"]})
        assert status == 404
        scoped = await _key(admin, ["read"], [acc])
        other_admin = await _key(admin, ["admin"], None)
        status, listed = await other_admin.get("/v1/keys")
        assert status == 200 and len(listed["data"]) == 3
        assert all("key" not in k and "key_hash" not in k for k in listed["data"])
        [mine] = [k for k in listed["data"] if k["kind"] == "scoped"]
        assert mine["scopes"] == ["read"] and mine["account_ids"] == [acc]
        assert (await scoped.get(f"/v1/accounts/{acc}"))[0] == 200
        assert (await admin.delete(f"/v1/keys/{mine['id']}"))[0] == 204
        assert _code(await scoped.get(f"/v1/accounts/{acc}")) == (401, "unauthorized")
        assert (await admin.delete(f"/v1/keys/{mine['id']}"))[0] == 404


async def test_openapi_names_each_operations_scope(data_dir: Path) -> None:
    async with hooks_app(data_dir) as (admin, _plugin):
        status, doc = await admin.get("/openapi.json")
    assert status == 200
    scopes = {(m.upper(), p): op.get("x-scope") for p, item in doc["paths"].items()
              for m, op in item.items() if isinstance(op, dict)}
    assert scopes[("GET", "/v1/accounts/{account_id}")] == "read"
    assert scopes[("POST", "/v1/accounts/{account_id}/messages")] == "send"
    assert scopes[("POST", "/v1/accounts/{account_id}/auth/session/code")] == "control"
    assert scopes[("POST", "/v1/webhooks")] == "control"
    assert scopes[("POST", "/v1/keys")] == "admin"
    assert scopes[("GET", "/health")] is None
    assert all(s in ("read", "send", "control", "admin") for (_m, p), s in scopes.items()
               if p not in ("/health", "/ready", "/openapi.json", "/docs"))
    created = doc["paths"]["/v1/webhooks"]["post"]["responses"]["201"]
    schema = created["content"]["application/json"]["schema"]
    assert "secret" in schema["properties"] and "secret" in schema["required"]
