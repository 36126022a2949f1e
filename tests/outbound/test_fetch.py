"""Downloads and connections under the outbound policy, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.support.gateway import make_settings
from unifyport.crypto.box import SecretBox
from unifyport.crypto.keyring import load_keyring
from unifyport.db.database import Database
from unifyport.gateway import Gateway
from unifyport.outbound.addresses import OutboundRefused
from unifyport.outbound.fetch import fetch
from unifyport.outbound.policy import OutboundPolicy
from unifyport.plugins.registry import build_registry
from unifyport.sdk import StepError

LOOPBACK = OutboundPolicy([ipaddress.ip_network("127.0.0.1/32")])
NOTHING = OutboundPolicy([])
PAYLOAD = b"SQLite format 3\x00" + bytes(5000)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    closing = asyncio.Event()

    async def streamed(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(bytes(1000))
        return resp

    async def slow(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):  # cut short at teardown (cleanup waits for it)
            await asyncio.wait_for(closing.wait(), 2)
        return web.Response(body=b"late")

    app = web.Application()
    app.router.add_get("/file", _file)
    app.router.add_get("/stream", streamed)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/missing", _missing)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"127.0.0.1:{port}"
    closing.set()
    await runner.cleanup()


async def _file(request: web.Request) -> web.Response:
    return web.Response(body=PAYLOAD)


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/file")


async def _missing(request: web.Request) -> web.Response:
    return web.Response(status=404)


async def _refused(policy: OutboundPolicy, url: str) -> StepError:
    with pytest.raises(StepError) as err:
        await fetch(policy, url, 1 << 20)
    return err.value


async def test_fetch_inside_the_allow_list(server: str) -> None:
    assert await fetch(LOOPBACK, f"http://{server}/file", 1 << 20) == PAYLOAD


async def test_name_resolving_to_loopback_is_refused(server: str) -> None:
    port = server.split(":")[1]
    err = await _refused(NOTHING, f"http://localhost:{port}/file")
    assert (err.code, err.http_status) == ("url_not_allowed", 400)
    assert "loopback" in err.message


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
                                  "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "0.0.0.0",
                                  "169.254.169.254", "100.64.0.1", "10.0.0.1"])
async def test_literal_addresses_are_refused_before_connecting(host: str) -> None:
    err = await _refused(NOTHING, f"http://{host}:9/x")
    assert err.code == "url_not_allowed"


async def test_plain_http_needs_the_allow_list_even_for_public_addresses() -> None:
    err = await _refused(NOTHING, "http://8.8.8.8/session")
    assert err.code == "url_not_allowed" and "http://" in err.message


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "no-scheme",
                                 "https://user:pw@example.com/x"])
async def test_other_urls_are_refused(url: str) -> None:
    assert (await _refused(NOTHING, url)).code == "url_not_allowed"


async def test_redirect_is_not_followed(server: str) -> None:
    err = await _refused(LOOPBACK, f"http://{server}/redirect")
    assert (err.code, err.http_status) == ("download_failed", 502)
    assert "302" in err.message


async def test_error_status_fails(server: str) -> None:
    assert "404" in (await _refused(LOOPBACK, f"http://{server}/missing")).message


async def test_size_cap_with_and_without_content_length(server: str) -> None:
    with pytest.raises(StepError) as err:
        await fetch(LOOPBACK, f"http://{server}/file", 100)
    assert err.value.code == "download_failed" and "larger" in err.value.message
    with pytest.raises(StepError) as err:
        await fetch(LOOPBACK, f"http://{server}/stream", 50_000)
    assert err.value.code == "download_failed" and "larger" in err.value.message
    assert len(await fetch(LOOPBACK, f"http://{server}/stream", 100_000)) == 100_000


async def test_timeout_fails_the_download(server: str) -> None:
    with pytest.raises(StepError) as err:
        await fetch(LOOPBACK, f"http://{server}/slow", 1000,
                    aiohttp.ClientTimeout(total=0.3))
    assert err.value.code == "download_failed"


async def test_connector_refuses_a_name_resolving_to_loopback(server: str) -> None:
    port = server.split(":")[1]
    async with aiohttp.ClientSession(connector=NOTHING.connector()) as session:
        with pytest.raises(OutboundRefused):
            await session.get(f"http://localhost:{port}/file")
    async with aiohttp.ClientSession(connector=LOOPBACK.connector()) as session:
        async with session.get(f"http://localhost:{port}/file") as resp:
            assert await resp.read() == PAYLOAD


async def test_the_gateway_outbound_uses_its_settings(tmp_path: Path, server: str) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, '[security]\noutbound_allow_cidrs = ["127.0.0.1/32"]\n')
    data_dir.mkdir()
    gw = Gateway(settings=settings, db=Database(settings.storage.effective_database_url),
                 box=SecretBox(load_keyring(settings, create=True)),
                 registry=build_registry(settings))
    try:
        outbound = gw.outbound
        assert await outbound.fetch(f"http://{server}/file", 1 << 20) == PAYLOAD
    finally:
        await gw.db.dispose()
