"""The SSRF guard's address rules (offload.packs.core.http_util): only public unicast addresses are called."""

from __future__ import annotations

import ipaddress

import pytest

from offload.errors import NonRetryableError
from offload.packs.core.http_util import Allowlist, open_url, refusal


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not public"),
        ("169.254.169.254", "the cloud metadata service"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "the cloud metadata service"),
        ("fd12:3456::1", "unique-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped the cloud metadata service"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_refused_naming_why(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_allowlist_takes_names_addresses_and_ranges() -> None:
    allow = Allowlist.parse("localhost, 127.0.0.0/8,::1, Receiver.Test.")
    assert allow.allows("LOCALHOST")
    assert allow.allows("receiver.test")
    assert allow.allows("anything", ipaddress.ip_address("127.9.9.9"))
    assert allow.allows("v6", ipaddress.ip_address("::1"))
    assert not allow.allows("other", ipaddress.ip_address("10.0.0.1"))
    assert not Allowlist.parse(None).allows("localhost")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x", "http:///nohost"])
def test_only_http_urls_with_a_host_are_opened(url: str) -> None:
    with pytest.raises(NonRetryableError, match="only http"):
        open_url(url, timeout=1)
