"""The outbound policy as aiohttp pieces: URL checks, a checking resolver, a connector.

aiohttp connects to exactly the addresses its resolver returns, so a resolver that checks
every address and returns only checked ones pins the connection to them (no second lookup).
aiohttp does not ask the resolver for IP literals; :meth:`OutboundPolicy.check_url` checks
those before the request.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from unifyport.outbound.addresses import OutboundRefused, allowed_explicitly, check
from unifyport.settings import IPNetwork, Settings


class CheckingResolver(AbstractResolver):
    """Resolves with the system resolver and refuses the name when any address is refused.
    With ``only_allowed``, every address must be inside the allow list (plain ``http://``
    downloads)."""

    def __init__(self, allow: Iterable[IPNetwork], only_allowed: bool = False) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow = tuple(allow)
        self._only_allowed = only_allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise OSError(f"{host} did not resolve")
        for r in results:
            ip = ipaddress.ip_address(r["host"].split("%", 1)[0])
            try:
                check(ip, self._allow)
            except OutboundRefused as exc:
                raise OutboundRefused(f"{host} resolves to a refused address: {exc}") from None
            if self._only_allowed and not allowed_explicitly(ip, self._allow):
                raise OutboundRefused(f"http:// is allowed only for addresses inside "
                                      f"security.outbound_allow_cidrs; {host} is {ip}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class OutboundPolicy:
    """Checks URLs and makes connectors bound to the policy of these settings."""

    def __init__(self, allow: Iterable[IPNetwork]) -> None:
        self.allow = tuple(allow)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        return cls(settings.security.outbound_allow_cidrs)

    def check_url(self, url: str, *, https_only_unless_allowed: bool = False) -> URL:
        """Parse and check ``url``: ``http``/``https`` with a host and no credentials; an IP
        literal must pass the address check. Raises :class:`OutboundRefused`."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            raise OutboundRefused("not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise OutboundRefused("only http:// and https:// URLs with a host are allowed")
        if parsed.user or parsed.password:
            raise OutboundRefused("URLs with credentials are not allowed")
        literal = _ip_literal(parsed.host)
        if literal is not None:
            check(literal, self.allow)
            if (https_only_unless_allowed and parsed.scheme == "http"
                    and not allowed_explicitly(literal, self.allow)):
                raise OutboundRefused("http:// is allowed only for addresses inside "
                                      "security.outbound_allow_cidrs")
        return parsed

    def connector(self, limit: int = 100, *, only_allowed: bool = False) -> aiohttp.TCPConnector:
        """A pooled connector whose every connection goes to a checked address. Create it
        inside a running event loop."""
        return aiohttp.TCPConnector(
            resolver=CheckingResolver(self.allow, only_allowed),
            limit=limit,
            limit_per_host=0,
            ttl_dns_cache=10,
        )


_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` names literally, or ``None`` for a DNS name.

    IPv4 must be written canonically (four decimal numbers, no leading zeros, no trailing
    dot). Other spellings that C resolvers, browsers or HTTP clients read as IPv4 — an
    integer (``2130706433``), short dotted (``127.1``), octal (``0177.0.0.1``), hex
    (``0x7f.1``), mixed, or a numeric last label (``example.0x1``) — are refused here rather
    than left to what the client does with them. So are a malformed IPv6 literal and a
    percent-encoded host."""
    if "%" in host and ":" not in host:
        raise OutboundRefused(f"percent-encoded host {host!r} is not allowed")
    if ":" in host:  # yarl has removed the brackets of an IPv6 literal
        try:
            return ipaddress.IPv6Address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            raise OutboundRefused(f"{host!r} is not a valid IPv6 address") from None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        pass
    labels = host.split(".")
    last = labels[-1] or (labels[-2] if len(labels) > 1 else "")
    if _NUMERIC_LABEL.fullmatch(last):
        raise OutboundRefused(f"{host!r} is a non-canonical IPv4 address; write it as four "
                              "decimal numbers (a.b.c.d)")
    return None
