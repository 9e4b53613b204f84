"""The HTTP API on the local cloud, as a client in any language reaches it: SigV4-signed requests (offload.client,
`curl --aws-sigv4`) enqueue and poll jobs; unsigned and wrongly signed ones are refused before any function
runs; schemathesis drives every operation of the served OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from offload.client import OffloadApiError, OffloadClient
from offload.local.cloud import free_port
from tests.e2e.conftest import LocalStack, start_local, stop_local


def _session(secret: str = "local") -> Any:
    session = botocore.session.get_session()
    session.set_credentials("local", secret)
    session.set_config_variable("region", "us-east-1")
    return session


@pytest.fixture(scope="module")
def api(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, str]]:
    port = free_port()
    stack = start_local(cdk_out, tmp_path_factory.mktemp("api"), ("--api-port", str(port)))
    yield stack, f"http://127.0.0.1:{port}"
    stop_local(stack)


@pytest.fixture(scope="module")
def client(api: tuple[LocalStack, str]) -> OffloadClient:
    return OffloadClient(api[1], session=_session())


def raw(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    """An unsigned request: (status, decoded JSON)."""
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(client: OffloadClient, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.time() + timeout_s
    while True:
        job = client.get_job(job_id)
        if job["status"] in ("completed", "failed", "cancelled") or time.time() > deadline:
            return job
        time.sleep(0.2)


def test_the_stack_output_names_the_local_api_and_health_needs_no_signature(api: tuple[LocalStack, str]) -> None:
    stack, url = api
    assert "ApiUrl" in stack.output_text() and url in stack.output_text()
    status, report = raw("GET", f"{url}/health")
    assert (status, report["healthy"], report["checks"]["queue"]["accessible"]) == (200, True, True)


def test_a_signed_client_enqueues_and_polls_a_job_to_completed(client: OffloadClient) -> None:
    job_id = client.enqueue("diag.echo", {"hello": "api"}, idempotency_key=f"e2e-{time.time_ns()}")
    job = wait_for(client, job_id)
    assert (job["jobId"], job["status"], job["result"]) == (job_id, "completed", {"hello": "api"})
    assert job_id in [j["jobId"] for j in client.list_jobs(type="diag.echo", limit=100)["jobs"]]


def test_unsigned_and_wrongly_signed_requests_are_refused_and_add_nothing(
    api: tuple[LocalStack, str], client: OffloadClient
) -> None:
    url = api[1]
    marker = f"refused-{time.time_ns()}"
    body = json.dumps({"type": "diag.echo", "data": {}, "idempotency_key": marker}).encode()
    assert raw("POST", f"{url}/jobs", body) == (403, {"message": "Forbidden"})
    forged = OffloadClient(url, session=_session(secret="not-the-local-secret"))
    with pytest.raises(OffloadApiError) as refused:
        forged.enqueue("diag.echo", {}, idempotency_key=marker)
    assert (refused.value.status, refused.value.error) == (403, "forbidden")
    assert "signature we calculated does not match" in refused.value.message
    # The same key, now signed properly, makes a new job: neither refusal enqueued one.
    job_id = client.enqueue("diag.echo", {}, idempotency_key=marker)
    assert wait_for(client, job_id)["attempts"] == 1
    assert raw("GET", f"{url}/no/such/route") == (404, {"message": "Not Found"})


def test_curl_with_aws_sigv4_enqueues_a_job_as_the_readme_shows(
    api: tuple[LocalStack, str], client: OffloadClient
) -> None:
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--aws-sigv4",
            "aws:amz:us-east-1:execute-api",
            "--user",
            "local:local",
            "-H",
            "content-type: application/json",
            "-d",
            '{"type": "diag.echo", "data": {"from": "curl"}}',
            f"{api[1]}/jobs",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    answer = json.loads(done.stdout)
    assert answer["status"] == "queued", done.stdout + done.stderr
    assert wait_for(client, answer["jobId"])["result"] == {"from": "curl"}


def test_every_operation_of_the_openapi_document_answers_within_its_schema(
    api: tuple[LocalStack, str], client: OffloadClient
) -> None:
    """schemathesis: generated requests (valid and invalid) to every route, signed; no 5xx, and every answer's
    status, content type and body are what the document says. (Its negative_data_rejection check is left
    out: this test's signing would sign the requests it strips of their signature; the refusals have their
    own test above.)"""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    class SigV4(requests.auth.AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            body = r.body.encode() if isinstance(r.body, str) else r.body
            r.headers.update(client.signed_headers(str(r.method), str(r.url), body or None))
            return r

    session = requests.Session()
    session.auth = SigV4()
    schema = schemathesis.openapi.from_dict(client.request("GET", "/openapi.json"))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
            )
            def exercise(case: Any) -> None:
                response = case.call(base_url=api[1], session=session)
                seen.setdefault(case.operation.label, set()).add(response.status_code)
                case.validate_response(response, checks=checks)

            try:
                exercise()
            except Unsatisfiable:  # nothing to make invalid: the operation takes no input (GET /health)
                assert mode is GenerationMode.NEGATIVE
                assert not list(operation.iter_parameters()) and not len(operation.body)
    assert len(seen) == len(list(schema.get_all_operations())), sorted(seen)
    assert all(max(codes) < 500 for codes in seen.values()), seen
    # Invalid requests were made and refused with the document's errors, not only valid ones.
    assert {422} <= set().union(*seen.values()), seen
