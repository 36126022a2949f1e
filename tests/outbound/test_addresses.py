"""The address policy refuses every non-public form, including IPv4 wrapped in IPv6."""

from __future__ import annotations

import ipaddress

import pytest

from unifyport.outbound.addresses import OutboundRefused, check, refusal

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "100.64.0.1": "CGNAT",
    "100.127.255.254": "CGNAT",
    "224.0.0.251": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "0.0.0.0": "unspecified",
    "192.0.2.1": "private",  # documentation range (TEST-NET-1)
    "198.18.0.1": "private",  # benchmarking
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "ff02::1": "multicast",
    "2001:db8::1": "private",
    "2001::1": "Teredo",
    # IPv4-mapped
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:100.64.0.1": "CGNAT",
    "::ffff:169.254.169.254": "link-local",
    # IPv4-compatible (deprecated)
    "::127.0.0.1": "loopback",
    # NAT64, well-known and local-use prefixes
    "64:ff9b::7f00:1": "loopback",
    "64:ff9b::a9fe:a9fe": "link-local",
    "64:ff9b::6440:1": "CGNAT",
    "64:ff9b:1::a00:1": "private",
    # 6to4
    "2002:7f00:1::": "loopback",
    "2002:a00:1::1": "private",
    "2002:a9fe:a9fe::": "link-local",
}
ALLOWED = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
           "2002:808:808::1"]


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_refused(address: str, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    reason = refusal(ip)
    assert reason is not None and kind in reason
    with pytest.raises(OutboundRefused):
        check(ip)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_allow_list_opens_a_range_in_every_form() -> None:
    allow = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
                    "fd12::1"):
        assert refusal(ipaddress.ip_address(address), allow) is None
    for address in ("10.0.0.1", "::1", "::ffff:10.0.0.1", "169.254.169.254"):
        assert refusal(ipaddress.ip_address(address), allow) is not None
