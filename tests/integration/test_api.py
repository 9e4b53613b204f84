"""The HTTP API's handler with real API Gateway HTTP API (v2) events, on the moto stack; the client's SigV4."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from offload.api.app import app, handle
from offload.jobs import admin
from offload.jobs.enqueue import enqueue, enqueue_many
from offload.jobs.model import JobStatus
from offload.local.provision import register_functions
from offload.testing.worker import Pump, run_job

CALLER = {
    "accessKey": "AKIATESTCALLER",
    "accountId": "123456789012",
    "callerId": "AIDATESTCALLER",
    "principalOrgId": None,
    "userArn": "arn:aws:iam::123456789012:user/producer",
    "userId": "AIDATESTCALLER",
    "cognitoIdentity": None,
}


def event(method: str, path: str, body: Any = None, *, query: str = "", raw_body: str | None = None) -> dict:
    """An API Gateway HTTP API v2 event as the service sends it for an IAM-authorised route."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    params = dict(p.split("=", 1) for p in query.split("&") if p) if query else None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": [],
        "headers": {"content-type": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": params,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"iam": CALLER},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "test",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Dec/2026:05:00:00 +0000",
            "timeEpoch": 1796187600000,
        },
        "body": text,
        "pathParameters": None,
        "isBase64Encoded": False,
        "stageVariables": None,
    }


def call(method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    resp = handle(event(method, path, body, **kw), None)
    raw = resp["body"]
    if resp.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return resp["statusCode"], json.loads(raw) if raw else None


# -- jobs ------------------------------------------------------------------------------


def test_post_job_queues_it_and_answers_202_with_its_id(runtime):
    status, body = call("POST", "/jobs", {"type": "test.count", "data": {"label": "a"}, "priority": 7})
    assert status == 202
    assert body["status"] == "queued"
    job = admin.get_job(runtime, body["jobId"])
    assert (job.type, job.data, job.priority) == ("test.count", {"label": "a"}, 7)
    assert runtime.queues.depth("default")["visible"] == 1


def test_post_job_with_a_delay_is_delayed(runtime):
    status, body = call("POST", "/jobs", {"type": "test.count", "delay_s": 120})
    assert status == 202
    assert admin.get_job(runtime, body["jobId"]).status == JobStatus.DELAYED


def test_post_job_batch_queues_every_item(runtime):
    status, body = call("POST", "/jobs/batch", {"type": "test.count", "items": [{"label": str(i)} for i in range(3)]})
    assert status == 202
    labels = sorted(admin.get_job(runtime, j["jobId"]).data["label"] for j in body["jobs"])
    assert labels == ["0", "1", "2"]


def test_a_batch_of_more_than_100_is_refused_naming_items(runtime):
    status, body = call("POST", "/jobs/batch", {"type": "test.count", "items": [{}] * 101})
    assert (status, body["field"]) == (422, "items")
    assert admin.list_jobs(runtime, JobStatus.QUEUED) == []


def test_get_job_returns_its_status_result_and_timestamps(runtime):
    job = run_job(runtime, "test.count", {"label": "done"})
    status, body = call("GET", f"/jobs/{job.job_id}")
    assert status == 200
    assert body["jobId"] == job.job_id
    assert body["status"] == "completed"
    assert body["result"]["label"] == "done"
    assert body["finished_at"] and body["created_at"]


def test_get_a_failed_job_says_which_step_failed(runtime):
    job = run_job(runtime, "test.refuse", {"why": "bad input"})
    status, body = call("GET", f"/jobs/{job.job_id}")
    assert (status, body["status"]) == (200, "failed")
    assert body["error"]["step"] and "bad input" in body["error"]["reason"]


def test_list_jobs_pages_through_every_job_once(runtime):
    ids = {enqueue("test.count", {"label": str(i)}) for i in range(7)}
    seen: list[str] = []
    cursor = ""
    while True:
        status, body = call("GET", "/jobs", query=f"status=queued&limit=3{'&cursor=' + cursor if cursor else ''}")
        assert status == 200
        seen += [j["jobId"] for j in body["jobs"]]
        if not body["cursor"]:
            break
        cursor = body["cursor"]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)


def test_list_jobs_pages_through_a_batch_created_in_the_same_millisecond(runtime):
    """Jobs of one batch share created_at; a page cut among them must lose and repeat none."""
    ids = set(enqueue_many("test.count", [{}] * 23))
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        page = admin.page_jobs(runtime, statuses=[JobStatus.QUEUED], limit=4, cursor=cursor)
        seen += [j.job_id for j in page.jobs]
        cursor = page.cursor
        if cursor is None:
            break
    assert len(seen) == len(ids) and set(seen) == ids


def test_list_jobs_filters_by_type_and_queue(runtime):
    counted = enqueue("test.count", {})
    enqueue("test.progress", {"steps": 1})
    status, body = call("GET", "/jobs", query="type=test.count")
    assert status == 200
    assert [j["jobId"] for j in body["jobs"]] == [counted]
    status, body = call("GET", "/jobs", query="queue=limited")
    assert (status, body["jobs"]) == (200, [])


def test_delete_job_cancels_a_waiting_job(runtime):
    job_id = enqueue("test.count", {})
    status, body = call("DELETE", f"/jobs/{job_id}")
    assert (status, body["status"]) == (200, "cancelled")
    assert admin.get_job(runtime, job_id).status == JobStatus.CANCELLED


def test_retry_runs_a_failed_job_again(runtime):
    job = run_job(runtime, "test.refuse", {})
    status, body = call("POST", f"/jobs/{job.job_id}/retry")
    assert (status, body["status"]) == (202, "queued")
    assert admin.get_job(runtime, job.job_id).attempts == 0


# -- errors ----------------------------------------------------------------------------


def test_unknown_job_is_404(runtime):
    status, body = call("GET", "/jobs/0123456789abcdef0123456789ab")
    assert (status, body["error"]) == (404, "not_found")
    assert "0123456789abcdef0123456789ab" in body["message"]


def test_unknown_route_is_404_as_json(runtime):
    status, body = call("GET", "/nowhere")
    assert (status, body["error"]) == (404, "not_found")
    assert "/openapi.json" in body["message"]


def test_retrying_a_completed_job_is_409(runtime):
    job = run_job(runtime, "test.count", {})
    status, body = call("POST", f"/jobs/{job.job_id}/retry")
    assert (status, body["error"]) == (409, "conflict")
    assert "only failed jobs" in body["message"]


def test_cancelling_a_finished_job_is_409(runtime):
    job = run_job(runtime, "test.count", {})
    status, _ = call("DELETE", f"/jobs/{job.job_id}")
    assert status == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {}}, "type"),
        ({"type": "test.count", "delay_s": -1}, "delay_s"),
        ({"type": "test.count", "attempts": 0}, "attempts"),
        ({"type": "test.count", "surprise": 1}, "surprise"),
        ({"type": "no.such.type"}, "type"),
        ({"type": "test.count", "data": {"label": 5}}, "data.label"),
        ({"type": "test.count", "webhook_url": "ftp://x"}, "webhook_url"),
    ],
)
def test_a_bad_job_is_422_naming_the_field(runtime, body, field):
    status, answer = call("POST", "/jobs", body)
    assert (status, answer["error"], answer["field"]) == (422, "validation_error", field)
    assert answer["message"]
    assert admin.list_jobs(runtime, JobStatus.QUEUED) == []


def test_a_bad_query_parameter_is_422_naming_it(runtime):
    status, body = call("GET", "/jobs", query="limit=1000")
    assert (status, body["field"]) == (422, "limit")
    status, body = call("GET", "/jobs", query="status=sleeping")
    assert (status, body["field"]) == (422, "status")
    status, body = call("GET", "/jobs", query="cursor=not-a-cursor")
    assert (status, body["field"]) == (422, "cursor")


def test_a_body_that_is_not_json_is_400(runtime):
    status, body = call("POST", "/jobs", raw_body="{not json")
    assert (status, body["error"]) == (400, "bad_json")


def test_a_body_over_256_kb_is_413_and_nothing_is_queued(runtime):
    big = {"type": "test.count", "data": {"label": "x" * (257 * 1024)}}
    status, body = call("POST", "/jobs", big)
    assert (status, body["error"]) == (413, "payload_too_large")
    assert admin.list_jobs(runtime, JobStatus.QUEUED) == []


def test_a_throttled_enqueue_is_429(runtime, monkeypatch):
    from botocore.exceptions import ClientError

    def throttled(*_: Any, **__: Any) -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem")

    monkeypatch.setattr(runtime.clients.dynamodb, "put_item", throttled)
    resp = handle(event("POST", "/jobs", {"type": "test.count"}), None)
    assert resp["statusCode"] == 429
    assert resp["headers"]["Retry-After"] == "1"
    assert json.loads(resp["body"])["error"] == "throttled"


def test_an_unexpected_error_is_500_without_a_trace(runtime, monkeypatch):
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals at /var/task/offload/x.py")

    monkeypatch.setattr(runtime.store, "get", broken)
    status, body = call("GET", "/jobs/0123456789abcdef0123456789ab")
    assert (status, body["error"]) == (500, "internal_error")
    assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)


# -- identity, schema --------------------------------------------------------------------


def test_the_callers_iam_identity_reaches_the_route(runtime):
    seen: dict[str, Any] = {}

    @app.get("/test-only/whoami", include_in_schema=False)
    def whoami() -> dict[str, Any]:
        from offload.api.app import identity

        seen.update(identity())
        return {}

    try:
        status, _ = call("GET", "/test-only/whoami")
    finally:
        app._static_routes = [r for r in app._static_routes if r.path != "/test-only/whoami"]
    assert status == 200
    assert seen["userArn"] == CALLER["userArn"]
    assert seen["accountId"] == "123456789012"


def test_openapi_document_lists_every_route(runtime):
    status, doc = call("GET", "/openapi.json")
    assert status == 200
    routes = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert routes >= {
        ("POST", "/jobs"),
        ("POST", "/jobs/batch"),
        ("GET", "/jobs/{job_id}"),
        ("GET", "/jobs"),
        ("DELETE", "/jobs/{job_id}"),
        ("POST", "/jobs/{job_id}/retry"),
        ("POST", "/uploads"),
        ("GET", "/images/{key}"),
        ("GET", "/images/search"),
        ("GET", "/videos/{key}"),
        ("GET", "/health"),
        ("GET", "/admin/queues"),
        ("POST", "/admin/jobs/{job_id}/retry"),
        ("POST", "/admin/queues/{queue}/redrive"),
        ("POST", "/admin/queues/{queue}/pause"),
        ("POST", "/admin/queues/{queue}/resume"),
        ("GET", "/openapi.json"),
    }
    assert "EnqueueRequest" in doc["components"]["schemas"]
    # SigV4 everywhere but /health, and every error in the one shape the routes answer.
    assert doc["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert doc["security"] == [{"sigv4": []}]
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert "503" in doc["paths"]["/health"]["get"]["responses"]
    error = doc["paths"]["/jobs/{job_id}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]


# -- uploads and media -------------------------------------------------------------------


@pytest.fixture
def media(runtime):
    """The images and video packs' resources on the moto stack (a media bucket, their records tables)."""
    from offload.packs.video.store import create_table_request

    runtime.clients.s3.create_bucket(Bucket="offload-test-media")
    db = runtime.clients.dynamodb
    db.create_table(
        TableName="offload-test-images",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )
    db.create_table(**create_table_request("offload-test-videos"))
    runtime.clients.client("s3vectors").create_vector_bucket(vectorBucketName="offload-test-vectors")
    runtime.settings.packs = {
        "images": {
            "media_bucket": "offload-test-media",
            "images_table": "offload-test-images",
            "vector_bucket": "offload-test-vectors",
        },
        "video": {"media_bucket": "offload-test-media", "videos_table": "offload-test-videos"},
    }
    return runtime


def test_upload_gives_a_presigned_post_limited_to_the_size_and_type(media):
    status, body = call(
        "POST", "/uploads", {"kind": "image", "filename": "../My Cat.jpg", "content_type": "image/jpeg", "bytes": 1234}
    )
    assert status == 201
    assert body["key"].startswith("uploads/images/") and body["key"].endswith("/My-Cat.jpg")
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1234, 1234] in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert body["poll"] == "/images/" + quote(body["key"], safe="")


@pytest.mark.parametrize(
    ("kind", "content_type", "size"),
    [("image", "image/png", 1), ("image", "image/jpeg", 5_000_000), ("video", "video/mp4", 70_000_000)],
)
def test_the_signed_upload_policy_admits_only_the_declared_key_size_and_type(media, kind, content_type, size):
    """moto 5 stores any form POST without checking its policy, so what S3 enforces is pinned here: the
    signed policy document itself (S3 refuses a POST whose file or fields break any condition)."""
    import datetime

    request = {"kind": kind, "filename": "f", "content_type": content_type, "bytes": size}
    status, body = call("POST", "/uploads", request)
    assert status == 201
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    conditions = policy["conditions"]
    signing = {"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-security-token"}
    exact = {k: v for c in conditions if isinstance(c, dict) for k, v in c.items() if k not in signing}
    ranges = [c for c in conditions if isinstance(c, list)]
    # Exactly this bucket, key and type; a file of exactly the declared size (one byte more or less is refused)
    assert exact == {"bucket": "offload-test-media", "key": body["key"], "Content-Type": content_type}
    assert ranges == [["content-length-range", size, size]], "no starts-with or wider range loosens the policy"
    assert body["fields"]["Content-Type"] == content_type and body["fields"]["key"] == body["key"]
    expires = datetime.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    left = (expires - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 0 < left <= body["expiresIn"] == 900


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "image", "filename": "a.mp4", "content_type": "video/mp4", "bytes": 10}, "content_type"),
        ({"kind": "image", "filename": "a.jpg", "content_type": "image/jpeg", "bytes": 0}, "bytes"),
        ({"kind": "image", "filename": "a.jpg", "content_type": "image/jpeg", "bytes": 10**9}, "bytes"),
        ({"kind": "pdf", "filename": "a.pdf", "content_type": "application/pdf", "bytes": 10}, "kind"),
    ],
)
def test_a_bad_upload_request_is_422_naming_the_field(media, body, field):
    status, answer = call("POST", "/uploads", body)
    assert (status, answer["field"]) == (422, field)


def test_an_image_record_is_read_by_its_url_encoded_key(media):
    from offload.jobs.model import now_iso
    from offload.packs.images.steps import ImagePipeline
    from offload.packs.images.store import ImageRecord

    key = "uploads/images/ab/cat.jpg"
    at = now_iso()
    record = ImageRecord(key=key, bucket="offload-test-media", status="pending", created_at=at, updated_at=at)
    assert ImagePipeline(media).store.register(record)
    status, body = call("GET", "/images/" + quote(key, safe=""))
    assert (status, body["key"], body["status"]) == (200, key, "pending")
    status, body = call("GET", "/images/" + quote("uploads/images/none.jpg", safe=""))
    assert (status, body["error"]) == (404, "not_found")


def test_image_search_answers_from_s3_vectors_with_metadata_filters(media):
    from offload.packs.images.steps import ImagePipeline
    from offload.packs.images.vectors import IndexRef

    pipeline = ImagePipeline(media)
    embedder = pipeline.providers.embedder
    index = pipeline.index_for(IndexRef.for_embedder(embedder))
    texts = {"uploads/images/beach.jpg": "a sunny beach with palm trees", "uploads/images/city.jpg": "a city street"}
    from offload.jobs.model import now_iso
    from offload.packs.images.store import ImageRecord

    at = now_iso()
    for (key, text), vector in zip(texts.items(), embedder.embed(list(texts.values())), strict=True):
        index.upsert(key, vector, {"description": text, "status": "indexed", "tags": [key.split("/")[-1][:-4]]})
        # the catalog has the moderation pack: only approved images are served in results
        record = ImageRecord(key=key, bucket="offload-test-media", status="pending", created_at=at, updated_at=at)
        assert pipeline.store.register(record)
    pipeline.store.set_aside("uploads/images/beach.jpg", moderation={"status": "approved"})

    status, body = call("GET", "/images/search", query="q=seaside&limit=2")
    assert status == 200 and [r["key"] for r in body["results"]] == ["uploads/images/beach.jpg"]
    pipeline.store.set_aside("uploads/images/city.jpg", moderation={"status": "approved"})
    status, body = call("GET", "/images/search", query="q=seaside&limit=2")
    assert status == 200 and [r["key"] for r in body["results"]] == list(texts)
    status, body = call("GET", "/images/search", query="q=seaside&tag=city&status=indexed")
    assert status == 200 and [r["key"] for r in body["results"]] == ["uploads/images/city.jpg"]
    status, body = call("GET", "/images/search", query='q=seaside&filter={"tags":{"$regex":"c"}}')
    assert status == 400 and "$regex" in body["message"]


def test_a_missing_video_record_is_404(media):
    status, body = call("GET", "/videos/" + quote("uploads/videos/none.mp4", safe=""))
    assert (status, body["error"]) == (404, "not_found")


# -- health and admin ------------------------------------------------------------------------


def test_health_is_200_with_every_check_when_all_answer(runtime):
    status, body = call("GET", "/health")
    assert status == 200
    assert body["healthy"] is True
    assert body["checks"]["queue"] == {"accessible": True, "activeWorkers": 0}
    assert body["checks"]["table"]["accessible"] and body["checks"]["bus"]["accessible"]
    assert set(body["checks"]["redis"]) >= {"connected", "latencyMs"}
    assert "arn:" not in json.dumps(body) and runtime.settings.table not in json.dumps(body)


def test_the_callers_identity_is_on_the_requests_log_lines(runtime):
    import io
    import logging

    from offload.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    previous = handler.setStream(out)
    try:
        call("POST", "/jobs", {"type": "test.count"})
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    enqueued = next(line for line in lines if line["message"] == "job enqueued")
    assert enqueued["caller"]["userArn"] == CALLER["userArn"]


def test_health_is_503_naming_redis_when_it_is_down(runtime, monkeypatch):
    from offload.ratelimit.connection import redis_client
    from offload.ratelimit.limiter import RateLimiter

    limiter = RateLimiter(redis_client("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    monkeypatch.setitem(runtime.__dict__, "rate_limiter", limiter)
    status, body = call("GET", "/health")
    assert status == 503
    assert body["healthy"] is False
    assert body["checks"]["redis"]["connected"] is False
    assert any(r.startswith("redis:") and "ConnectionError" in r for r in body["reasons"])


def test_health_reports_a_live_redis_latency(runtime, private_redis, monkeypatch):
    from offload.ratelimit.connection import redis_client
    from offload.ratelimit.limiter import RateLimiter

    monkeypatch.setitem(runtime.__dict__, "rate_limiter", RateLimiter(redis_client(private_redis.url)))
    status, body = call("GET", "/health")
    assert status == 200
    assert body["checks"]["redis"]["connected"] is True
    assert body["checks"]["redis"]["latencyMs"] >= 0


def test_admin_queues_has_seed_002s_shape(runtime):
    failed = run_job(runtime, "test.refuse", {"why": "nope"})
    enqueue("test.count", {})
    status, body = call("GET", "/admin/queues")
    assert status == 200
    default = body["queues"]["default"]
    assert default["waiting"] == 1 and default["failed"] == 1
    assert default["total"] == 2
    assert set(default) >= {"waiting", "active", "completed", "failed", "delayed", "total", "health", "latestFailed"}
    assert default["latestFailed"][0]["jobId"] == failed.job_id
    assert default["health"]["status"] in {"ok", "warning", "critical"}
    assert body["timestamp"]


def test_admin_retry_and_redrive(runtime):
    failed = run_job(runtime, "test.refuse", {})
    status, body = call("POST", f"/admin/jobs/{failed.job_id}/retry")
    assert (status, body["status"]) == (202, "queued")
    status, body = call("POST", "/admin/queues/default/redrive")
    assert (status, body["queue"], body["moved"]) == (200, "default", [])
    status, body = call("POST", "/admin/queues/nosuch/redrive")
    assert status == 404


def _mapping(runtime, queue: str) -> str:
    register_functions(runtime.clients.client, [f"worker-{queue}"])
    lam = runtime.clients.client("lambda")
    arn = runtime.clients.sqs.get_queue_attributes(
        QueueUrl=runtime.settings.queue_urls(queue).url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    return str(lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=f"worker-{queue}")["UUID"])


def test_pause_and_resume_flip_the_queues_event_source_mapping_and_keep_its_messages(runtime):
    uuid = _mapping(runtime, "default")
    lam = runtime.clients.client("lambda")
    job_id = enqueue("test.count", {})

    status, body = call("POST", "/admin/queues/default/pause")
    assert (status, body["paused"], body["mappings"]) == (200, True, [uuid])
    assert lam.get_event_source_mapping(UUID=uuid)["State"] in ("Disabled", "Disabling")
    assert runtime.queues.depth("default")["visible"] == 1
    assert admin.get_job(runtime, job_id).status == JobStatus.QUEUED

    status, body = call("POST", "/admin/queues/default/resume")
    assert (status, body["paused"]) == (200, False)
    assert lam.get_event_source_mapping(UUID=uuid)["State"] in ("Enabled", "Enabling")
    Pump(runtime, "default").until(lambda: admin.get_job(runtime, job_id).status.terminal)
    assert admin.get_job(runtime, job_id).status == JobStatus.COMPLETED


def test_pausing_a_queue_without_a_worker_is_409(runtime):
    status, body = call("POST", "/admin/queues/default/pause")
    assert (status, body["error"]) == (409, "conflict")


# -- the client ------------------------------------------------------------------------------


class _VerifyingServer(BaseHTTPRequestHandler):
    """A loopback API that recomputes each request's SigV4 signature with botocore and answers JSON."""

    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = f"http://{self.headers['Host']}{self.path}"
        given = self.headers.get("Authorization", "")
        signed = {k: v for k, v in self.headers.items() if k.lower() in _signed_names(given)}
        check = AWSRequest(method=self.command, url=url, data=body, headers=signed)
        check.context["timestamp"] = self.headers["X-Amz-Date"]
        auth = SigV4Auth(Credentials("testing", "testing"), "execute-api", "us-east-1")
        expected = auth.signature(auth.string_to_sign(check, auth.canonical_request(check)), check)
        ok = given.endswith(f"Signature={expected}")
        self.seen.append({"method": self.command, "path": self.path, "ok": ok, "body": body})
        status, answer = (200, {"jobId": "j1", "status": "queued"}) if ok else (403, {"error": "forbidden"})
        if ok and self.path.startswith("/jobs/missing"):
            status, answer = 404, {"error": "not_found", "message": "no job 'missing'"}
        if ok and self.path == "/health":
            status, answer = 503, {"healthy": False, "reasons": ["redis: down"]}
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *_: Any) -> None:
        return None


def _signed_names(authorization: str) -> set[str]:
    part = next((p for p in authorization.split(", ") if p.startswith("SignedHeaders=")), "SignedHeaders=")
    return set(part.removeprefix("SignedHeaders=").split(";"))


@pytest.fixture
def verifying_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VerifyingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _VerifyingServer.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_client_signs_every_request_with_sigv4(verifying_server):
    import botocore.session

    from offload.client import OffloadClient

    client = OffloadClient(verifying_server, region="us-east-1", session=botocore.session.get_session())
    assert client.enqueue("test.count", {"label": "x"}, priority=3) == "j1"
    client.list_jobs(status="queued", limit=5)
    client.pause("default")
    seen = _VerifyingServer.seen
    assert [s["ok"] for s in seen] == [True, True, True]
    assert json.loads(seen[0]["body"]) == {"type": "test.count", "data": {"label": "x"}, "priority": 3}
    assert urlsplit(seen[1]["path"]).query == "status=queued&limit=5"


def test_a_wrong_signature_is_refused_by_the_verifier(verifying_server, monkeypatch):
    import botocore.session

    from offload.client import OffloadApiError, OffloadClient

    session = botocore.session.get_session()
    session.set_credentials("testing", "wrong-secret")
    with pytest.raises(OffloadApiError) as raised:
        OffloadClient(verifying_server, region="us-east-1", session=session).get_job("j1")
    assert raised.value.status == 403


def test_the_client_raises_the_apis_error(verifying_server):
    import botocore.session

    from offload.client import OffloadApiError, OffloadClient

    with pytest.raises(OffloadApiError) as raised:
        OffloadClient(verifying_server, region="us-east-1", session=botocore.session.get_session()).get_job("missing")
    assert (raised.value.status, raised.value.error) == (404, "not_found")


# -- the CLI's health and pause / resume -------------------------------------------------------


@pytest.fixture
def cli(runtime, monkeypatch):
    """Run `offload ARGS...` against the moto deployment (OFFLOAD_* variables)."""
    from typer.testing import CliRunner

    from offload.cli.main import app as cli_app

    for name, value in runtime.settings.to_env().items():
        monkeypatch.setenv(name, value)
    return lambda *args: CliRunner().invoke(cli_app, list(args), env={"COLUMNS": "200"})


def test_offload_health_prints_the_report_and_exits_0(cli):
    result = cli("health", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["healthy"] is True and set(report["checks"]) == {"redis", "queue", "table", "bus"}


def test_offload_health_exits_1_naming_the_failed_check(cli, runtime, monkeypatch):
    monkeypatch.setenv("OFFLOAD_TABLE", "no-such-table")
    result = cli("health")
    assert result.exit_code == 1
    assert "unhealthy" in result.stdout and "table: cannot describe the jobs table" in result.stdout


def test_offload_queues_pause_and_resume(cli, runtime):
    uuid = _mapping(runtime, "default")
    lam = runtime.clients.client("lambda")
    result = cli("queues", "pause", "default")
    assert result.exit_code == 0, result.output
    assert "paused" in result.stdout
    assert lam.get_event_source_mapping(UUID=uuid)["State"] in ("Disabled", "Disabling")
    result = cli("queues", "resume", "default", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"queue": "default", "paused": False, "mappings": [uuid]}
    assert lam.get_event_source_mapping(UUID=uuid)["State"] in ("Enabled", "Enabling")


def test_the_clients_health_returns_an_unhealthy_report_instead_of_raising(verifying_server):
    import botocore.session

    from offload.client import OffloadClient

    report = OffloadClient(verifying_server, region="us-east-1", session=botocore.session.get_session()).health()
    assert report == {"healthy": False, "reasons": ["redis: down"]}
