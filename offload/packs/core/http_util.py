"""The processors' outbound-address check; the retry rules are `offload.http_rules`."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from offload.errors import NonRetryableError, RetryableError


def check_destination(url: str) -> None:
    """Refuse non-HTTP URLs and link-local addresses (cloud metadata endpoints live there)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise NonRetryableError(f"only http(s) URLs can be called, got {url!r}")
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise RetryableError(f"could not resolve {parsed.hostname!r}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_link_local:
            raise NonRetryableError(f"{parsed.hostname!r} resolves to link-local {address}: refused")
