"""The accounts API: validation, authentication, pagination, deletion, the JSON error format."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.gateway import Api
from tests.support.testprovider import TestProvider

CODE = {"provider": "testprov", "auth_mode": "code",
        "provider_data": {"api_id": 1, "api_hash": "s3cr3t-hash", "phone": "+15551234567"}}


async def create(api: Api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, account = await api.post("/v1/accounts", body or CODE)
    assert status == 201, account
    return account


async def test_create_returns_account_without_secrets(api: Api) -> None:
    account = await create(api, {**CODE, "name": "sales"})
    assert account["id"].startswith("acc_")
    assert account["status"] == "pending"
    assert account["name"] == "sales"
    assert account["provider_data"] == {"api_id": 1, "phone": "+15551234567"}
    assert "s3cr3t-hash" not in str(account)
    assert account["runtime"] == {"status": "stopped", "since": None, "error": None}
    assert account["identity"] is None and account["last_error"] is None
    status, fetched = await api.get(f"/v1/accounts/{account['id']}")
    assert status == 200 and fetched == account


async def test_integer_given_as_digits_is_accepted(api: Api) -> None:
    body = {**CODE, "provider_data": {**CODE["provider_data"], "api_id": "123"}}
    account = await create(api, body)
    assert account["provider_data"]["api_id"] == 123


async def test_field_validation_lists_every_bad_field(api: Api) -> None:
    status, body = await api.post("/v1/accounts", {
        "provider": "testprov", "auth_mode": "code",
        "provider_data": {"api_id": "abc", "phone": "12345", "extra": 1}})
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["fields"] == {
        "provider_data.api_id": "must be an integer",
        "provider_data.api_hash": "field required",
        "provider_data.phone": r"does not match \+[1-9][0-9]{6,14}",
        "provider_data.extra": "unknown field",
    }


async def test_unknown_provider_and_mode_list_allowed_values(api: Api) -> None:
    status, body = await api.post("/v1/accounts", {**CODE, "provider": "nope"})
    assert status == 422 and body["error"]["code"] == "unknown_provider"
    assert body["error"]["allowed"] == ["testprov"]
    status, body = await api.post("/v1/accounts", {**CODE, "auth_mode": "nope"})
    assert status == 422 and body["error"]["code"] == "unsupported_auth_mode"
    assert body["error"]["allowed"] == ["code", "qrcode", "session"]


async def test_body_shape_errors(api: Api) -> None:
    status, body = await api.post("/v1/accounts", {"provider": "testprov"})
    assert status == 422 and body["error"]["fields"] == {"auth_mode": "Field required"}
    status, body = await api.post("/v1/accounts", {**CODE, "surprise": True})
    assert status == 422 and "surprise" in body["error"]["fields"]
    status, body = await api.post("/v1/accounts", [1, 2])
    assert status == 400 and body["error"]["code"] == "invalid_request"


async def test_malformed_json_is_a_json_400(api: Api) -> None:
    response = await api.client.post(
        "/v1/accounts", data=b"{not json", headers={
            "Authorization": f"Bearer {api.key}", "Content-Type": "application/json"})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["code"] == "invalid_request"
    assert "malformed JSON" in body["error"]["message"]


async def test_unknown_route_and_wrong_method_are_json(api: Api) -> None:
    """Answered by the authentication step once the key is checked (not raised again by
    the dispatch), in the errors' one format; without a key, 401 first."""
    status, body = await api.get("/v1/nothing-here")
    assert status == 404 and body == {"error": {
        "code": "not_found", "message": "no route for /v1/nothing-here"}}
    response = await api.client.open("/v1/accounts", method="PUT", headers={
        "Authorization": f"Bearer {api.key}"})
    body = await response.get_json()
    assert response.status_code == 405 and body["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.headers["X-Request-Id"]
    response = await api.client.get("/v1/nothing-here")
    assert response.status_code == 401
    status, body = await api.get("/v1/accounts/acc_missing")
    assert status == 404 and body["error"] == {"code": "not_found",
                                               "message": "account not found"}


async def test_authentication_required_and_checked(api: Api) -> None:
    response = await api.client.get("/v1/accounts")
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"
    status, body = await api.call("GET", "/v1/accounts",
                                  headers={"Authorization": "Bearer upk_wrong"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    response = await api.client.get("/v1/accounts", headers={"X-API-Key": api.key})
    assert response.status_code == 200
    for public in ("/health", "/ready", "/openapi.json"):
        assert (await api.client.get(public)).status_code == 200


async def test_revoked_key_is_refused(api: Api) -> None:
    from unifyport.apikeys import create_key, revoke_key

    row, token = await create_key(api.gateway.db, "temp")
    ok = await api.client.get("/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert await revoke_key(api.gateway.db, row.id)
    refused = await api.client.get("/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


async def test_pagination_newest_first_with_filters(api: Api) -> None:
    ids = [(await create(api))["id"] for _ in range(5)]
    qr = await create(api, {"provider": "testprov", "auth_mode": "qrcode",
                            "provider_data": {"api_id": 1, "api_hash": "h"}})
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        path = "/v1/accounts?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.get(path)
        assert status == 200 and len(page["data"]) <= 2
        seen += [a["id"] for a in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [qr["id"], *reversed(ids)]
    status, page = await api.get("/v1/accounts?status=pending&provider=testprov&limit=200")
    assert len(page["data"]) == 6
    status, page = await api.get("/v1/accounts?status=authorized")
    assert page == {"data": [], "next_cursor": None}
    status, body = await api.get("/v1/accounts?limit=0")
    assert status == 422 and "limit" in body["error"]["fields"]
    status, body = await api.get("/v1/accounts?cursor=garbage")
    assert status == 400 and body["error"]["code"] == "invalid_request"


async def test_delete_logs_out_and_removes_everything(api: Api, provider: TestProvider) -> None:
    account = await create(api)
    acc = account["id"]
    await api.post(f"/v1/accounts/{acc}/auth/session/start")
    status, _ = await api.post(f"/v1/accounts/{acc}/auth/session/code", {"code": "12345"})
    assert status == 200
    status, _ = await api.call("DELETE", f"/v1/accounts/{acc}")
    assert status == 204
    assert provider.logged_out == [acc]
    assert (await api.get(f"/v1/accounts/{acc}"))[0] == 404
    assert (await api.call("DELETE", f"/v1/accounts/{acc}"))[0] == 404
    from sqlalchemy import select

    from unifyport.db.models import StoredSecret

    async with api.gateway.db.read() as s:
        assert (await s.scalars(select(StoredSecret).where(
            StoredSecret.account_id == acc))).all() == []
    status, events = await api.get(f"/v1/events?account_id={acc}&limit=200")
    assert events["data"][0]["type"] == "account.deleted"


async def test_unexpected_exception_is_internal_error_without_traceback(
    api: Api, provider: TestProvider, caplog: pytest.LogCaptureFixture
) -> None:
    account = await create(api)

    async def boom(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    provider.run_step = boom  # type: ignore[method-assign]
    status, body = await api.post(f"/v1/accounts/{account['id']}/auth/session/start")
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["request_id"].startswith("req_")
    assert "secret internals" not in str(body)
    logged = [r for r in caplog.records if body["error"]["request_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None, "logged with its traceback and request id"


async def test_openapi_describes_routes(api: Api) -> None:
    response = await api.client.get("/openapi.json")
    spec = await response.get_json()
    paths = spec["paths"]
    for path in ("/v1/accounts", "/v1/accounts/{account_id}",
                 "/v1/accounts/{account_id}/auth/session/code",
                 "/v1/accounts/{account_id}/auth/session/qr/check",
                 "/v1/accounts/{account_id}/runtime/start", "/v1/events"):
        assert path in paths, path
    assert "requestBody" in paths["/v1/accounts"]["post"]
    body = paths["/v1/accounts"]["post"]["requestBody"]["content"]["application/json"]
    variants = {v["title"]: v for v in body["schema"]["oneOf"]}
    assert sorted(variants) == ["testprov / code", "testprov / qrcode", "testprov / session"]
    code = variants["testprov / code"]["properties"]["provider_data"]
    assert code["required"] == ["api_id", "api_hash", "phone"]
    assert code["properties"]["api_hash"]["writeOnly"] is True
    assert code["properties"]["phone"]["pattern"] == r"\+[1-9][0-9]{6,14}"
    session = variants["testprov / session"]["properties"]["params"]
    assert session["required"] == ["session_url"]


async def test_openapi_documents_each_step_errors_and_public_routes(api: Api) -> None:
    spec = await (await api.client.get("/openapi.json")).get_json()
    paths = spec["paths"]
    code = paths["/v1/accounts/{account_id}/auth/session/code"]["post"]
    body = code["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["code"]["maxLength"] == 32
    assert body["required"] == ["code"] and body["additionalProperties"] is False
    assert {"200", "400", "409", "422", "429", "503"} <= set(code["responses"])
    qr = paths["/v1/accounts/{account_id}/auth/session/qr/check"]["post"]["responses"]["200"]
    assert "QrOut" in str(qr), "the fields a step exposes are typed"
    assert "cancel" in str(paths.keys())
    send = paths["/v1/accounts/{account_id}/messages"]["post"]["responses"]
    assert "SendResponse" in str(send["201"])
    for path, item in paths.items():
        for method, op in item.items():
            if path in ("/health", "/ready", "/openapi.json"):
                assert op.get("security") == [], path
            elif path.startswith("/v1/"):
                assert "401" in op["responses"] and "422" in op["responses"], (method, path)
    assert "ErrorOut" in spec["components"]["schemas"]
