"""The local HTTP API's route matching, SigV4 check and API Gateway v2 events, without a socket: requests are
signed by botocore (what offload.client and every AWS SDK use) and checked by offload.local.api's own code."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from offload.local.api import (
    Denied,
    HttpApiSpec,
    LocalHttpApi,
    RouteSpec,
    match_route,
    verify_sigv4,
)

CREDENTIALS = {"local": "local"}
HOST = "127.0.0.1:4567"


def routes(*keys: str, auth: str = "AWS_IAM") -> list[RouteSpec]:
    return [RouteSpec(route_key=k, authorization=auth, integration_id="fn") for k in keys]


def signed(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    secret: str = "local",
    key: str = "local",
    region: str = "us-east-1",
    service: str = "execute-api",
    token: str | None = None,
) -> dict[str, str]:
    """The headers botocore's signer adds to this request."""
    headers = {"Content-Type": "application/json"} if body else {}
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", data=body, headers=headers)
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    return {"Host": HOST, **dict(request.headers.items())}


def check(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    path, _, query = target.partition("?")
    return verify_sigv4(method, path, query, headers, body, CREDENTIALS)


# -- routes ------------------------------------------------------------------------------------


def test_static_segments_win_over_a_parameter_and_the_method_must_match() -> None:
    table = routes("GET /jobs/{job_id}", "POST /jobs/batch", "GET /jobs", "POST /jobs/{job_id}/retry")
    assert match_route(table, "POST", "/jobs/batch").route.route_key == "POST /jobs/batch"
    found = match_route(table, "GET", "/jobs/j-1")
    assert found is not None and (found.route.route_key, found.path_parameters) == (
        "GET /jobs/{job_id}",
        {"job_id": "j-1"},
    )
    assert match_route(table, "POST", "/jobs/j-1/retry").path_parameters == {"job_id": "j-1"}
    assert match_route(table, "DELETE", "/jobs/j-1") is None
    assert match_route(table, "GET", "/jobs/j-1/extra") is None


def test_greedy_proxy_and_default_routes_catch_what_nothing_else_does() -> None:
    table = routes("GET /images/search", "ANY /files/{path+}", "$default")
    assert match_route(table, "GET", "/images/search").route.route_key == "GET /images/search"
    assert match_route(table, "PUT", "/files/a/b/c").path_parameters == {"path": "a/b/c"}
    assert match_route(table, "GET", "/nowhere").route.route_key == "$default"


# -- SigV4 -------------------------------------------------------------------------------------


def test_a_botocore_signed_request_is_accepted_with_the_callers_identity() -> None:
    body = json.dumps({"type": "diag.echo"}).encode()
    identity = check("POST", "/jobs", signed("POST", "/jobs", body), body)
    assert identity["accessKey"] == "local"
    assert identity["userArn"].endswith(":user/local")


def test_query_strings_and_encoded_path_segments_are_canonicalized_as_aws_does() -> None:
    target = "/images/uploads%2Fimages%2Fa%20b.png?limit=3&q=red%20car"
    assert check("GET", target, signed("GET", target))["accessKey"] == "local"


def test_a_session_token_is_part_of_the_signature() -> None:
    headers = signed("GET", "/jobs", token="session-token")
    assert check("GET", "/jobs", headers)["accessKey"] == "local"
    tampered = {**headers, "X-Amz-Security-Token": "another-token"}
    with pytest.raises(Denied, match="signature we calculated does not match"):
        check("GET", "/jobs", tampered)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unsigned", "Forbidden"),
        ("wrong secret", "signature we calculated does not match"),
        ("unknown key", "security token included in the request is invalid"),
        ("other service", "scoped to correct service"),
        ("other region", "valid region"),
        ("body changed", "signature we calculated does not match"),
        ("path changed", "signature we calculated does not match"),
        ("method changed", "signature we calculated does not match"),
        ("garbled header", "requires 'Credential'"),
    ],
)
def test_requests_that_api_gateway_would_refuse_are_403_with_its_words(change: str, message: str) -> None:
    body = b'{"type":"diag.echo"}'
    method, path = "POST", "/jobs"
    headers = {
        "unsigned": {"Host": HOST},
        "wrong secret": signed(method, path, body, secret="not-local"),
        "unknown key": signed(method, path, body, key="AKIDUNKNOWN"),
        "other service": signed(method, path, body, service="s3"),
        "other region": signed(method, path, body, region="eu-west-1"),
        "garbled header": {**signed(method, path, body), "Authorization": "AWS4-HMAC-SHA256 nonsense"},
    }.get(change) or signed(method, path, body)
    if change == "body changed":
        body = b'{"type":"diag.sleep"}'
    if change == "path changed":
        path = "/jobs/batch"
    if change == "method changed":
        method = "PUT"
    with pytest.raises(Denied, match=message) as denied:
        check(method, path, headers, body)
    assert denied.value.status == 403


def test_a_signature_older_than_five_minutes_is_expired() -> None:
    headers = signed("GET", "/jobs")
    with pytest.raises(Denied, match="Signature expired"):
        verify_sigv4("GET", "/jobs", "", headers, b"", CREDENTIALS, now=time.time() + 6 * 60)


# -- the request -> event -> response path (the function is a recording stand-in at the edge) -------


class Recorder:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.events: list[dict[str, Any]] = []

    def __call__(self, name: str, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def api_with(recorder: Recorder) -> LocalHttpApi:
    spec = HttpApiSpec(logical_id="Api", api_id="local0", name="test-api", integrations={"fn": "api-fn"})
    spec.routes = routes("POST /jobs", "GET /jobs/{job_id}") + routes("GET /health", auth="NONE")
    # Never started: no socket; answer() is the whole request path.
    return LocalHttpApi(spec, recorder, host="127.0.0.1", port=0, credentials=CREDENTIALS)


def test_a_signed_request_becomes_a_payload_2_event_with_the_iam_identity() -> None:
    recorder = Recorder({"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"ok":1}'})
    body = b'{"type":"diag.echo","data":{}}'
    headers = {**signed("POST", "/jobs?x=1&x=2", body), "Cookie": "a=1; b=2"}
    status, out_headers, out_body, log = api_with(recorder).answer("POST", "/jobs?x=1&x=2", headers, body, "10.0.0.9")
    assert (status, out_body, out_headers["content-type"]) == (202, b'{"ok":1}', "application/json")
    (event,) = recorder.events
    assert event["version"] == "2.0" and event["routeKey"] == "POST /jobs"
    assert (event["rawPath"], event["rawQueryString"], event["queryStringParameters"]) == (
        "/jobs",
        "x=1&x=2",
        {"x": "1,2"},
    )
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["sourceIp"] == "10.0.0.9"
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "local"
    assert log["user"].endswith(":user/local") and log["integrationStatus"] == 202


def test_path_parameters_and_binary_bodies_reach_the_function_as_api_gateway_sends_them() -> None:
    recorder = Recorder({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True})
    headers = signed("GET", "/jobs/j-7")
    status, _, out_body, _ = api_with(recorder).answer("GET", "/jobs/j-7", headers, b"", "127.0.0.1")
    assert (status, out_body) == (200, b"hi")
    assert recorder.events[0]["pathParameters"] == {"job_id": "j-7"}
    assert "body" not in recorder.events[0]


def test_unsigned_unknown_and_failing_requests_never_reach_or_leak_the_function() -> None:
    recorder = Recorder(RuntimeError("secret detail"))
    api = api_with(recorder)
    assert api.answer("POST", "/jobs", {"Host": HOST}, b"{}", "127.0.0.1")[:3:2] == (403, b'{"message": "Forbidden"}')
    assert api.answer("GET", "/nope", {"Host": HOST}, b"", "127.0.0.1")[:3:2] == (404, b'{"message": "Not Found"}')
    assert recorder.events == []
    status, _, body, log = api.answer("GET", "/health", {"Host": HOST}, b"", "127.0.0.1")
    assert (status, body) == (500, b'{"message": "Internal Server Error"}')
    assert "secret detail" not in json.dumps(log) and len(recorder.events) == 1
