"""The SSRF guard on real connections: loopback receivers, redirects, and a name that re-resolves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from offload.errors import NonRetryableError, RetryableError
from offload.packs.core.http_util import Allowlist, open_url
from offload.runtime import Runtime
from offload.testing.scripted_http import Reply, ScriptedServer
from offload.testing.worker import run_job


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def test_a_loopback_url_is_refused_unless_allowlisted(server: ScriptedServer) -> None:
    with pytest.raises(NonRetryableError, match=r"resolves to 127\.0\.0\.1, loopback.*OFFLOAD_HTTP_ALLOW_HOSTS"):
        open_url(server.root_url, timeout=2)
    assert server.requests == []
    server.script(Reply(200, "ok"))
    with open_url(server.root_url, timeout=2, allow=Allowlist.parse("127.0.0.1")) as resp:
        assert resp.read() == b"ok"


def test_every_redirect_hop_is_checked(server: ScriptedServer) -> None:
    port = server.root_url.rsplit(":", 1)[1]
    # localhost is allowed by name; the redirect goes to 127.0.0.1, which is not.
    server.script(Reply(302, "", headers={"Location": f"http://127.0.0.1:{port}/inside"}))
    with pytest.raises(NonRetryableError, match="loopback"):
        open_url(f"http://localhost:{port}/start", timeout=2, allow=Allowlist.parse("localhost"))
    assert [r.path for r in server.requests] == ["/start"]


def test_a_redirect_to_the_metadata_service_is_refused(server: ScriptedServer) -> None:
    server.script(Reply(301, "", headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(NonRetryableError, match="cloud metadata service"):
        open_url(f"{server.root_url}/x", timeout=2, allow=Allowlist.parse("127.0.0.1"))


def test_the_connection_uses_the_address_that_was_checked(server: ScriptedServer, monkeypatch: Any) -> None:
    # Given a name that resolves to a public address first and to the loopback receiver afterwards
    port = int(server.root_url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    calls: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        calls.append(host)
        address = "192.0.0.9" if len(calls) == 1 else "127.0.0.1"  # 192.0.0.9: a global-scope address
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    # When it is opened, then the connection goes to the checked address (unreachable here), not
    # to whatever a second lookup would say
    with pytest.raises(RetryableError, match="could not reach"):
        open_url(f"http://rebind.test:{port}/", timeout=0.5)
    assert calls == ["rebind.test"]
    assert server.requests == []


def test_http_fetch_refuses_a_private_destination_as_a_failed_job(runtime: Runtime, server: ScriptedServer) -> None:
    settings = runtime.settings.model_copy(update={"http_allow_hosts": None})
    rt = Runtime(settings, runtime.clients, catalog=runtime.catalog)
    job = run_job(rt, "http.fetch", {"url": f"{server.root_url}/file"})
    assert job.status.value == "failed" and job.attempts == 1
    assert job.error is not None and "loopback" in job.error.reason
    assert server.requests == []
