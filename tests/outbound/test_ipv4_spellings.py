"""The policy refuses every non-canonical IPv4 spelling itself (400 ``url_not_allowed``),
whatever the HTTP client would make of it: tables, then generated spellings (Hypothesis)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from unifyport.outbound.addresses import OutboundRefused
from unifyport.outbound.fetch import fetch
from unifyport.outbound.policy import OutboundPolicy
from unifyport.providers import StepError

EVERYTHING = OutboundPolicy([ipaddress.ip_network("0.0.0.0/0")])
"""Every IPv4 address allowed: only the spelling can be refused."""

NON_CANONICAL = [
    "2130706433",  # integer
    "0x7f000001", "0X7F000001", "017700000001",  # integer in hex, octal
    "127.1", "127.0.1", "10.1", "8.8.2056",  # short dotted
    "0177.0.0.1", "127.0.0.01", "0127.0.0.1",  # octal / leading zero
    "0x7f.0.0.1", "0x7f.1", "0x7f.0x0.0x0.0x1", "0x.0.0.1",  # hex
    "0x7f.0.01", "0177.0x0.1",  # mixed
    "127.0.0.1.", "8.8.8.8.",  # trailing dot
    "134744072", "1.2.3.4.5", "256.0.0.1",  # public integer, too many labels, overflow
    "example.0x1", "example.123",  # a numeric last label is read as IPv4 by browsers
    "%31%32%37.0.0.1",  # percent-encoded
]
CANONICAL = ["127.0.0.1", "8.8.8.8", "10.0.0.1", "0.0.0.0", "255.255.255.255"]


@pytest.mark.parametrize("host", NON_CANONICAL)
def test_non_canonical_refused(host: str) -> None:
    with pytest.raises(OutboundRefused):
        EVERYTHING.check_url(f"http://{host}/x")


@pytest.mark.parametrize("host", [*CANONICAL, "example.com", "example.com.", "1a.example",
                                  "0x.example", "a-1.b2"])
def test_canonical_and_names_pass_the_spelling_check(host: str) -> None:
    assert EVERYTHING.check_url(f"http://{host}/x").host == host


@pytest.mark.parametrize("host", ["[::ffff:127.1]", "[::1:2:3:4:5:6:7:8:9]"])
def test_malformed_ipv6_literals_refused(host: str) -> None:
    with pytest.raises(OutboundRefused):
        EVERYTHING.check_url(f"http://{host}/x")


def _part(value: int, style: str) -> str:
    if style == "dec":
        return str(value)
    if style == "oct":
        return "0" + format(value, "o")
    return ("0x" if style == "hex" else "0X") + format(value, "x")


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, ipaddress.IPv4Address]:
    """An IPv4 address and one way to spell it: 1 to 4 parts (the last takes the remaining
    bytes, as inet_aton reads it), each decimal, octal or hex; maybe a trailing dot."""
    address = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    raw = address.packed
    count = draw(st.integers(1, 4))
    values = [*raw[: count - 1], int.from_bytes(raw[count - 1 :], "big")]
    styles = draw(st.lists(st.sampled_from(["dec", "oct", "hex", "HEX"]), min_size=count,
                           max_size=count))
    text = ".".join(_part(v, s) for v, s in zip(values, styles, strict=True))
    return text + ("." if draw(st.booleans()) else ""), address


@settings(max_examples=400, deadline=None)
@given(spellings())
def test_generated_spellings(case: tuple[str, ipaddress.IPv4Address]) -> None:
    """Accepted exactly when the spelling is the canonical one, and then as that address."""
    text, address = case
    if text == str(address):
        assert EVERYTHING.check_url(f"https://{text}/").host == str(address)
    else:
        with pytest.raises(OutboundRefused):
            EVERYTHING.check_url(f"https://{text}/")


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1",
                                  "127.0.0.1."])
async def test_download_is_400_url_not_allowed_before_any_connection(
        host: str, aiohttp_loopback: tuple[str, list[str]]) -> None:
    """127.0.0.1 is allowed and a real server listens there: the spelling alone is refused,
    and the server sees no request."""
    port, seen = aiohttp_loopback
    loopback = OutboundPolicy([ipaddress.ip_network("127.0.0.1/32")])
    with pytest.raises(StepError) as err:
        await fetch(loopback, f"http://{host}:{port}/file", 1000)
    assert (err.value.code, err.value.http_status) == ("url_not_allowed", 400)
    assert await fetch(loopback, f"http://127.0.0.1:{port}/file", 1000) == b"ok"
    assert seen == ["/file"]


@pytest.fixture
async def aiohttp_loopback() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(body=b"ok")

    app = web.Application()
    app.router.add_get("/file", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield str(port), seen
    await runner.cleanup()
