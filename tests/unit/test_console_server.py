"""The console server's guards and routing, called without a socket."""

from __future__ import annotations

import pytest

from offload.console.server import ConsoleBindError, ConsoleServer, Request, Response, Router, check_bind, is_loopback


def _server() -> ConsoleServer:
    router = Router()
    router.add("GET", "/jobs/{job_id}", lambda r: Response(f"job {r.params['job_id']}"))
    router.add("POST", "/jobs/{job_id}/retry", lambda r: Response.redirect(f"/jobs/{r.params['job_id']}"))
    router.add("GET", "/media/{key:path}", lambda r: Response(r.params["key"]))
    return ConsoleServer(router, host="127.0.0.1", port=8765, token="secret-token")


def _request(method: str, path: str, *, host: str = "127.0.0.1:8765", form=None, headers=None) -> Request:
    return Request(method, path, {}, form or {}, {"host": host, **(headers or {})})


def test_loopback_addresses_bind_without_a_word():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert check_bind("127.0.0.1", allow_remote=False) is None


def test_a_non_loopback_bind_is_refused_with_the_fix_unless_allowed_then_warned():
    with pytest.raises(ConsoleBindError, match=r"0\.0\.0\.0.*--allow-remote"):
        check_bind("0.0.0.0", allow_remote=False)

    warning = check_bind("10.0.0.5", allow_remote=True)

    assert warning is not None and "your AWS credentials" in warning


def test_route_parameters_are_percent_decoded_and_path_parameters_keep_slashes():
    server = _server()

    assert server.handle(_request("GET", "/jobs/idem-ab%3A1")).body == "job idem-ab:1"
    assert server.handle(_request("GET", "/media/videos/a%20b/hls/master.m3u8")).body == "videos/a b/hls/master.m3u8"


def test_unknown_paths_are_404_and_wrong_methods_405():
    server = _server()

    assert server.handle(_request("GET", "/nowhere")).status == 404
    assert server.handle(_request("GET", "/jobs/x/retry")).status == 405


def test_a_request_for_another_host_name_is_refused_so_dns_rebinding_gets_nothing():
    response = _server().handle(_request("GET", "/jobs/x", host="evil.example:8765"))

    assert response.status == 421


def test_localhost_names_are_all_accepted_on_the_servers_port():
    server = _server()

    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert server.handle(_request("GET", "/jobs/x", host=host)).status == 200
    assert server.handle(_request("GET", "/jobs/x", host="localhost:9999")).status == 421


def test_a_post_without_the_form_token_is_refused_and_with_it_runs():
    server = _server()

    refused = server.handle(_request("POST", "/jobs/x/retry", form={"token": "guess"}))
    done = server.handle(_request("POST", "/jobs/x/retry", form={"token": "secret-token"}))

    assert refused.status == 403 and "reload the page" in str(refused.body)
    assert done.status == 303 and done.headers["Location"] == "/jobs/x"


def test_a_cross_site_post_is_refused_even_with_the_token():
    response = _server().handle(
        _request("POST", "/jobs/x/retry", form={"token": "secret-token"}, headers={"origin": "https://evil.example"})
    )

    assert response.status == 403


def test_static_files_are_served_with_their_type_and_nothing_outside_the_folder():
    server = _server()

    htmx = server.handle(_request("GET", "/static/htmx.min.js"))
    escape = server.handle(_request("GET", "/static/../pages.py"))

    assert htmx.status == 200 and htmx.content_type == "text/javascript" and b"htmx" in htmx.body
    assert escape.status == 404


def test_a_handler_error_goes_to_the_error_page_when_one_is_set():
    router = Router()

    def broken(_: Request) -> Response:
        raise ValueError("bad input: fix it")

    router.add("GET", "/", broken)
    server = ConsoleServer(router, token="t", on_error=lambda exc: Response(str(exc), status=400))

    response = server.handle(_request("GET", "/"))

    assert (response.status, response.body) == (400, "bad input: fix it")
