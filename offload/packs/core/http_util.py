"""Small HTTP helpers shared by the processors that call out: error classes and address checks."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from offload.errors import NonRetryableError, RetryableError

# Statuses worth retrying: throttling, and server-side trouble that often passes.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def error_for_status(status: int, url: str, detail: str = "") -> Exception:
    """A retryable error for 429/5xx-like statuses, a permanent one for the rest."""
    text = f"{url} answered HTTP {status}" + (f": {detail[:200]}" if detail else "")
    return RetryableError(text) if status in RETRYABLE_STATUSES or status >= 500 else NonRetryableError(text)


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
