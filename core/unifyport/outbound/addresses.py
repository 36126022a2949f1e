"""Which IP addresses outbound requests may reach.

``ipaddress`` flags alone are not enough: ``100.64.0.1`` is not ``is_private``,
``::ffff:127.0.0.1`` is not ``is_loopback``, and the NAT64 (``64:ff9b::/96``,
``64:ff9b:1::/48``) and 6to4 (``2002::/16``) forms of a private IPv4 address report
``is_global``. Each embedded IPv4 address is unwrapped and checked too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from unifyport.settings import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutboundRefused(Exception):
    """A URL or an address the outbound policy does not allow."""


def embedded(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, IPv4-compatible, 6to4, NAT64."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (int(ip) >> 32 == 0 and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _reason(ip: IPAddress) -> str | None:
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared address space (CGNAT)", ip in _CGNAT),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def allowed_explicitly(ip: IPAddress, allow: Iterable[IPNetwork]) -> bool:
    """Whether ``ip`` (or the IPv4 address it embeds) is inside one of ``allow``."""
    forms = [f for f in (ip, embedded(ip)) if f is not None]
    return any(f.version == n.version and f in n for f in forms for n in allow)


def refusal(ip: IPAddress, allow: Iterable[IPNetwork] = ()) -> str | None:
    """Why ``ip`` may not be reached, or ``None`` when it may (public, or inside ``allow``).
    An address that embeds an IPv4 address is judged by that address."""
    if allowed_explicitly(ip, allow):
        return None
    inner = embedded(ip)
    if inner is not None:
        reason = _reason(inner)
        return None if reason is None else f"{reason} ({inner} embedded in {ip})"
    if isinstance(ip, ipaddress.IPv6Address) and ip.teredo is not None:
        return "a Teredo tunnel address"
    return _reason(ip)


def check(ip: IPAddress, allow: Iterable[IPNetwork] = ()) -> None:
    """Raise :class:`OutboundRefused` unless ``ip`` may be reached."""
    reason = refusal(ip, allow)
    if reason is not None:
        raise OutboundRefused(f"address {ip} is {reason}; allow it in "
                              "security.outbound_allow_cidrs to reach it")
