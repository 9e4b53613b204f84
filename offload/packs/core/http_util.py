"""Outbound HTTP for processors: the one guard against server-side request forgery.

`http.fetch`, `webhook.deliver` and the notifications pack's Discord sender all open URLs through
`open_url`. It refuses non-HTTP schemes, and addresses that are not public: loopback, private
(RFC 1918), shared (100.64/10), link-local (169.254/16, where cloud metadata lives, and fe80::/10),
the EC2 IPv6 metadata address fd00:ec2::254 with all of unique-local fc00::/7, unspecified (0.0.0.0,
::), multicast and reserved ranges, and IPv4-mapped IPv6 forms of any of them (::ffff:127.0.0.1).

The check runs when each connection is made, on the address that connection then uses: every
redirect hop is checked, and a name that re-resolves to a private address between check and connect
cannot slip through (the socket connects to the address that was checked, not to the name).
Hosts on the allowlist (`Settings.http_allow_hosts`, OFFLOAD_HTTP_ALLOW_HOSTS: names, addresses or
CIDR ranges, comma-separated) skip the address check: the local cloud and tests use it for their
loopback receivers. The retry rules for answers are `offload.http_rules`.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from offload.errors import NonRetryableError, RetryableError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The EC2 instance metadata service's IPv6 address (inside fc00::/7, named for the error message).
EC2_METADATA_V6 = ipaddress.IPv6Address("fd00:ec2::254")
MAX_REDIRECTS = 5


class DestinationRefused(OSError):
    """The URL's host resolves to an address outbound requests may not reach."""


class Allowlist:
    """Hosts that skip the address check: exact names (case-insensitive), addresses and CIDR ranges."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.rstrip("."))

    @classmethod
    def parse(cls, text: str | None) -> Allowlist:
        """From OFFLOAD_HTTP_ALLOW_HOSTS's form: "localhost,127.0.0.1,10.0.0.0/8"."""
        return cls((text or "").split(","))

    def allows(self, host: str, address: Address | None = None) -> bool:
        if host.lower().rstrip(".") in self.names:
            return True
        return address is not None and any(address in network for network in self.networks)


def refusal(address: Address) -> str | None:
    """Why an address may not be called (e.g. "loopback"), or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        inner = refusal(address.ipv4_mapped)
        return f"IPv4-mapped {inner}" if inner else None
    if address == ipaddress.IPv4Address("169.254.169.254") or address == EC2_METADATA_V6:
        return "the cloud metadata service"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unique-local", isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def resolve_checked(host: str, port: int, allow: Allowlist) -> list[tuple[Any, ...]]:
    """getaddrinfo for `host`, refusing the lot if any address is not public (unless allowlisted)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"could not resolve {host!r}: {exc}") from None
    if allow.allows(host):
        return infos
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        why = refusal(address)
        if why and not allow.allows(host, address):
            raise DestinationRefused(
                f"{host!r} resolves to {address}, {why}: outbound requests only go to public addresses "
                "(add the host to OFFLOAD_HTTP_ALLOW_HOSTS for a local receiver)"
            )
    return infos


def _pinned_connection(allow: Allowlist) -> Any:
    """socket.create_connection's stand-in: resolve, check, then connect to the checked address itself."""

    def connect(address: tuple[str, int], timeout: Any = None, source_address: Any = None, **_: Any) -> socket.socket:
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _name, sockaddr in resolve_checked(host, port, allow):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise last or OSError(f"no address to connect to for {host!r}")

    return connect


def _connection_class(base: type[http.client.HTTPConnection], allow: Allowlist) -> Any:
    class Guarded(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = _pinned_connection(allow)

    return Guarded


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, allow: Allowlist) -> None:
        super().__init__()
        self._cls = _connection_class(http.client.HTTPConnection, allow)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._cls, req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, allow: Allowlist) -> None:
        super().__init__()
        self._cls = _connection_class(http.client.HTTPSConnection, allow)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._cls, req)


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlparse(newurl).scheme not in ("http", "https"):
            raise DestinationRefused(f"{req.full_url} redirects to {newurl!r}: only http(s) redirects are followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_scheme(url: str) -> None:
    """Refuse anything but an http(s) URL with a host, naming it."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise NonRetryableError(f"only http(s) URLs can be called, got {url!r}")


def open_url(request: urllib.request.Request | str, *, timeout: float, allow: Allowlist | None = None) -> Any:
    """urlopen through the guard (every hop checked, the checked address pinned); no proxies, no other schemes.

    A refused destination is a NonRetryableError; an unreachable one a RetryableError; an HTTP error
    status comes back as urllib's HTTPError for the caller's `offload.http_rules`."""
    url = request if isinstance(request, str) else request.full_url
    check_scheme(url)
    allow = allow or Allowlist()
    opener = urllib.request.OpenerDirector()
    for handler in (
        _HTTP(allow),
        _HTTPS(allow),
        _Redirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except DestinationRefused as exc:
        raise NonRetryableError(f"{url}: {exc}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, DestinationRefused):
            raise NonRetryableError(f"{url}: {exc.reason}") from None
        raise RetryableError(f"could not reach {url}: {exc.reason}") from None
    except (TimeoutError, ConnectionError) as exc:
        raise RetryableError(f"could not reach {url}: {exc}") from None


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, error statuses included: the status, headers (lower-case names) and up to 64 KB of body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it isn't."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


def post_json(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow: Allowlist) -> Answer:
    """POST a JSON body through the guard; every status comes back as an Answer (the caller applies
    `offload.http_rules`); refused and unreachable destinations raise as `open_url` says."""
    request = urllib.request.Request(
        url, data=body, headers={**headers, "Content-Type": "application/json"}, method="POST"
    )
    try:
        with open_url(request, timeout=timeout, allow=allow) as resp:
            return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read(_ANSWER_MAX))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read(_ANSWER_MAX))


_ANSWER_MAX = 64 * 1024
