"""The console over HTTP (no browser): sessions, CSRF, the key's secrecy, /v1/providers,
and forms generated from a provider's declaration alone (the SDK's example channel)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.console.signin import csrf_of, sign_in
from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.logcapture import captured_log
from unifyport.settings import LoggingSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "echo_channel"


async def test_providers_route_lists_the_declaration(api: Api) -> None:
    status, body = await api.get("/v1/providers")
    assert status == 200
    (prov,) = body["data"]
    assert prov["name"] == "testprov" and prov["capabilities"] == sorted(prov["capabilities"])
    code = next(m for m in prov["auth_modes"] if m["name"] == "code")
    api_id = next(f for f in code["fields"] if f["name"] == "api_id")
    assert api_id["type"] == "integer" and api_id["minimum"] == -(2**63)
    assert api_id["maximum"] == 2**63 - 1 and "max_length" not in api_id
    steps = {s["name"]: s for s in code["steps"]}
    assert "cancel" in steps and steps["password"]["fields"][0]["secret"] is True
    assert steps["password"]["fields"][0]["max_length"] == 1024
    assert (await api.get("/v1/providers/testprov"))[1] == prov
    status, body = await api.get("/v1/providers/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.client.get("/v1/providers"), None
    assert status.status_code == 401


async def test_session_cookie_csrf_and_sign_out(api: Api) -> None:
    client = api.client
    assert (await client.get("/console/accounts")).status_code == 303  # not signed in
    page = await client.get("/console/sign-in")
    token = csrf_of(await page.get_data(as_text=True))
    wrong = await client.post("/console/sign-in", form={"csrf_token": token,
                                                        "api_key": "upk_wrong"})
    assert wrong.status_code == 401 and "upk_wrong" not in await wrong.get_data(as_text=True)
    forged = await client.post("/console/sign-in", form={"csrf_token": "x", "api_key": api.key})
    assert forged.status_code == 403

    with captured_log(LoggingSettings(level="DEBUG")) as log:
        answer, csrf = await sign_in(client, api.key)
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/accounts"
    cookie = next(v for v in answer.headers.getlist("Set-Cookie")
                  if v.startswith("unifyport_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind TLS it is Secure (below)
    assert api.key not in cookie and api.key not in log.getvalue()
    page_html = await (await client.get("/console/accounts")).get_data(as_text=True)
    assert api.key not in page_html

    # the JSON API accepts the session: reads freely, writes only with the CSRF token
    assert (await client.get("/v1/accounts")).status_code == 200
    body = {"provider": "testprov", "auth_mode": "code",
            "provider_data": {"api_id": 1, "api_hash": "abcdef12", "phone": "+15550001234"}}
    no_csrf = await client.post("/v1/accounts", json=body)
    assert no_csrf.status_code == 403
    assert (await no_csrf.get_json())["error"]["code"] == "csrf_failed"
    assert (await client.post("/v1/accounts", json=body,
                              headers={"X-CSRF-Token": "nope"})).status_code == 403
    ok = await client.post("/v1/accounts", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # a console form without its token is refused too
    account_id = (await ok.get_json())["id"]
    refused = await client.post(f"/console/accounts/{account_id}/delete", form={})
    assert refused.status_code == 403 and (await api.get(f"/v1/accounts/{account_id}"))[0] == 200

    out = await client.post("/console/sign-out", form={"csrf_token": csrf})
    assert out.status_code == 303
    assert (await client.get("/v1/accounts")).status_code == 401
    assert (await client.get("/console/accounts")).status_code == 303


async def test_sessions_expire(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from unifyport.http.console import sessions

    monkeypatch.setattr(sessions, "SESSION_SECONDS", 0)
    token = csrf_of(await (await api.client.get("/console/sign-in")).get_data(as_text=True))
    answer = await api.client.post("/console/sign-in",
                                   form={"csrf_token": token, "api_key": api.key})
    assert answer.status_code == 303 and "unifyport_console=" in answer.headers["Set-Cookie"]
    assert (await api.client.get("/console/accounts")).status_code == 303
    assert (await api.client.get("/v1/accounts")).status_code == 401


async def test_cookie_is_secure_behind_tls(api: Api) -> None:
    page = await api.client.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in page.headers["Set-Cookie"]


async def test_revoking_the_key_ends_its_console_sessions(api: Api) -> None:
    from unifyport.apikeys import create_key, revoke_key

    row, token = await create_key(api.gateway.db, "console")
    _, _ = await sign_in(api.client, token)
    assert (await api.client.get("/console/accounts")).status_code == 200
    await revoke_key(api.gateway.db, row.id)
    assert (await api.client.get("/console/accounts")).status_code == 303
    assert (await api.client.get("/v1/accounts")).status_code == 401


async def test_docs_is_served_from_the_gateway(api: Api) -> None:
    page = await api.client.get("/docs")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in html
    assert "http" not in html.replace("http-equiv", "")  # no other host named
    bundle = await api.client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(await bundle.get_data()) > 500_000


@pytest.fixture
def echo_api(data_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("unifyport_echo", None)
    from unifyport_echo import plugin

    return running(make_settings(data_dir, CORE_ONLY), (("echo", plugin),))


async def test_a_channel_the_console_never_saw_gets_its_forms(echo_api) -> None:  # type: ignore[no-untyped-def]
    """The example channel of the SDK: its create form and login form come from its
    declaration alone, and logging in through them works."""
    from unifyport_echo.network import NETWORK

    NETWORK.add_user("ada", "s3cret-pw")
    async with echo_api as api:
        client = api.client
        _, csrf = await sign_in(client, api.key)
        chooser = await (await client.get("/console/accounts/new")).get_data(as_text=True)
        assert 'data-testid="mode-echo-password"' in chooser
        form = await (await client.get("/console/accounts/new?provider=echo&mode=password")
                      ).get_data(as_text=True)
        assert 'data-testid="field-user"' in form and 'maxlength="32"' in form
        bad = await client.post("/console/accounts/new", form={
            "csrf_token": csrf, "provider": "echo", "auth_mode": "password", "user": "Bad User"})
        html = await bad.get_data(as_text=True)
        assert bad.status_code == 422 and 'data-testid="field-error-user"' in html
        made = await client.post("/console/accounts/new", form={
            "csrf_token": csrf, "provider": "echo", "auth_mode": "password", "user": "ada"})
        assert made.status_code == 303
        page_url = made.headers["Location"]
        account_id = page_url.rsplit("/", 1)[-1]
        page = await (await client.get(page_url)).get_data(as_text=True)
        assert 'data-testid="account-status">pending<' in page
        assert 'data-testid="step-login-form"' in page and 'data-testid="field-password"' in page
        assert 'type="password"' in page
        wrong = await client.post(f"/console/accounts/{account_id}/step/login",
                                  form={"csrf_token": csrf, "password": "nope"})
        assert 'data-testid="field-error-password"' in await wrong.get_data(as_text=True)
        done = await client.post(f"/console/accounts/{account_id}/step/login",
                                 form={"csrf_token": csrf, "password": "s3cret-pw"})
        assert done.status_code == 303
        page = await (await client.get(page_url)).get_data(as_text=True)
        assert 'data-testid="account-status">authorized<' in page
        assert (await api.get(f"/v1/accounts/{account_id}"))[1]["status"] == "authorized"
