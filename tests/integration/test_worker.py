"""The worker's behaviours, driven through SQS on moto exactly as Lambda's event source would."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from offload.jobs import admin
from offload.jobs.enqueue import enqueue, enqueue_many
from offload.jobs.model import JobErrorInfo, JobStatus
from offload.jobs.registry import PayloadError
from offload.local.sqs_events import receive_event
from offload.testing.aws import catch_alerts, catch_events, drain_bodies
from offload.testing.worker import Pump
from tests.support.processors import RUNS


def _status(rt, job_id):
    return rt.store.get(job_id).status


def test_enqueued_job_completes_with_its_result_and_a_completed_event(runtime):
    events = catch_events(runtime.settings)
    job_id = enqueue("diag.echo", {"hello": "world"})
    assert _status(runtime, job_id) == JobStatus.QUEUED

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)

    job = runtime.store.get(job_id)
    assert (job.status, job.result, job.progress, job.attempts) == (JobStatus.COMPLETED, {"hello": "world"}, 100, 1)
    assert job.expires_at is not None and job.expires_at - time.time() == pytest.approx(3600, abs=5)
    [event] = drain_bodies(events)
    assert event["detail-type"] == "Job Completed" and event["detail"]["job_id"] == job_id


def test_retryable_failure_retries_with_configured_backoff_then_dead_letters_fails_and_alerts(runtime):
    alerts = catch_alerts(runtime.settings)
    visibility: list[int] = []
    runtime.clients.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility",
        lambda params, **_: visibility.append(params["VisibilityTimeout"]),
    )
    job_id = enqueue("diag.flaky", {"fail_times": 10}, attempts=3)

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 3
    assert job.error.step == "process" and "planned failure 3 of 10" in job.error.reason
    assert "no attempts left" in job.error.reason
    assert visibility == [1, 2], "exponential backoff from 1 s: wait 1 s after attempt 1, 2 s after attempt 2"
    dead = runtime.queues.receive_dead("default")
    assert [m.attributes["offload-job-id"] for m in dead] == [job_id]
    [alert] = drain_bodies(alerts)
    assert job_id in alert["Message"] and "failed after 3 of 3 attempts" in alert["Message"]


def test_non_retryable_error_fails_at_once_without_using_more_attempts(runtime):
    job_id = enqueue("test.refuse", {"why": "customer account closed"})

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 1 and RUNS == [job_id]
    assert job.error.kind == "permanent" and "customer account closed" in job.error.reason
    assert len(runtime.queues.receive_dead("default")) == 1


def test_one_poison_message_in_a_batch_of_ten_fails_alone(runtime):
    good = [enqueue("test.poison", {"poison": False}) for _ in range(9)]
    bad = enqueue("test.poison", {"poison": True})
    sqs = runtime.clients.sqs
    url = runtime.settings.queue_urls("default").url
    pump = Pump(runtime, "default")
    event = receive_event(sqs, url, arn=pump.arn, batch_size=10)
    assert event is not None and len(event["Records"]) == 10

    response = pump.worker.handle_batch(event)

    bad_message = next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["job_id"] == bad)
    assert response["batchItemFailures"] == [{"itemIdentifier": bad_message}]
    assert all(_status(runtime, j) == JobStatus.COMPLETED for j in good)
    assert _status(runtime, bad) == JobStatus.DELAYED


def test_duplicate_delivery_of_a_finished_job_runs_the_processor_once(runtime):
    job_id = enqueue("test.count", {"label": "once"})
    pump = Pump(runtime, "default")
    event = receive_event(runtime.clients.sqs, pump.url, arn=pump.arn)

    first = pump.worker.handle_batch(event)
    second = pump.worker.handle_batch(event)  # SQS at-least-once: the same message again

    assert first == second == {"batchItemFailures": []}
    assert RUNS == [job_id]
    assert runtime.store.get(job_id).attempts == 1


def test_duplicate_delivery_while_the_job_runs_is_skipped(runtime):
    job_id = enqueue("test.progress", {"steps": 3, "pause_s": 0.3})
    pump = Pump(runtime, "default")
    event = receive_event(runtime.clients.sqs, pump.url, arn=pump.arn)
    runner = threading.Thread(target=pump.worker.handle_batch, args=(event,))
    runner.start()
    deadline = time.time() + 5
    while _status(runtime, job_id) != JobStatus.ACTIVE and time.time() < deadline:
        time.sleep(0.02)

    duplicate = pump.worker.handle_batch(event)
    runner.join()

    assert duplicate == {"batchItemFailures": []}
    job = runtime.store.get(job_id)
    assert job.status == JobStatus.COMPLETED and job.attempts == 1


def test_cancelled_job_never_runs(runtime):
    job_id = enqueue("test.count", {"label": "never"})
    admin.cancel(runtime, job_id)

    Pump(runtime, "default").until(lambda: runtime.queues.depth("default")["visible"] == 0)

    assert RUNS == []
    assert _status(runtime, job_id) == JobStatus.CANCELLED


def test_progress_is_visible_while_the_job_runs(runtime):
    job_id = enqueue("test.progress", {"steps": 4, "pause_s": 0.3})
    pump = Pump(runtime, "default")
    runner = threading.Thread(target=pump.once)
    runner.start()
    seen: set[int] = set()
    while runner.is_alive():
        job = runtime.store.get(job_id)
        if job.status == JobStatus.ACTIVE:
            seen.add(job.progress)
        time.sleep(0.05)
    runner.join()

    assert {25, 50, 75} <= seen, f"progress observed while active: {sorted(seen)}"
    assert _status(runtime, job_id) == JobStatus.COMPLETED


def test_same_idempotency_key_gives_the_same_job_and_one_execution(runtime):
    first = enqueue("test.count", {"label": "a"}, idempotency_key="order-42")
    second = enqueue("test.count", {"label": "a"}, idempotency_key="order-42")
    other = enqueue("test.count", {"label": "a"}, idempotency_key="order-43")

    Pump(runtime, "default").until(lambda: runtime.queues.depth("default")["visible"] == 0)

    assert first == second != other
    assert sorted(RUNS) == sorted([first, other])


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        ("this is not json", "message body is not JSON"),
        (json.dumps({"type": "no.such.type", "data": {}}), "unknown job type 'no.such.type'"),
        (json.dumps({"type": "diag.sleep", "data": {"seconds": "soon"}}), "data.seconds"),
        (json.dumps([1, 2, 3]), "must be a JSON object"),
        # Found by tests/integration/test_fuzz_worker.py: each used to loop (redelivered forever).
        ('{"job_id": "j1", "type": "diag.echo", "not_before": Infinity}', "not_before"),
        (json.dumps({"job_id": "", "type": "diag.echo"}), "is not a job id: it is empty"),
        (json.dumps({"job_id": "a" * 3000, "type": "diag.echo"}), "at most 128"),
    ],
    ids=["not-json", "unknown-type", "invalid-payload", "not-an-object", "endless-delay", "empty-id", "huge-id"],
)
def test_malformed_message_ends_as_a_failed_job_with_a_clear_reason_and_no_crash_loop(runtime, body, reason_part):
    sqs = runtime.clients.sqs
    url = runtime.settings.queue_urls("default").url
    message_id = sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]
    pump = Pump(runtime, "default")

    delivered, failed = pump.once()

    assert (delivered, failed) == (1, []), "acknowledged, not left to loop"
    assert pump.once() == (0, [])
    [job] = admin.list_jobs(runtime, JobStatus.FAILED)
    assert job.job_id in (f"msg-{message_id}", f"sqs-{message_id}")
    assert reason_part in job.error.reason and job.error.step == "parse"
    [dead] = runtime.queues.receive_dead("default")
    assert dead.body == body and reason_part in dead.attributes["offload-reason"]


def test_foreign_message_with_a_valid_type_becomes_a_job(runtime):
    sqs = runtime.clients.sqs
    url = runtime.settings.queue_urls("default").url
    message_id = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"type": "diag.echo", "data": {"n": 1}}))[
        "MessageId"
    ]

    Pump(runtime, "default").until(lambda: runtime.store.get(f"sqs-{message_id}") is not None)

    job = runtime.store.get(f"sqs-{message_id}")
    assert job.status == JobStatus.COMPLETED and job.result == {"n": 1}


def test_large_job_data_travels_through_s3(runtime):
    blob = "x" * (runtime.settings.large_data_bytes + 10)
    job_id = enqueue("diag.echo", {"blob": blob})
    record = runtime.store.get(job_id)
    assert record.data is None and record.data_ref == f"s3://{runtime.settings.payload_bucket}/jobs/{job_id}/data.json"

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)

    assert admin.get_job(runtime, job_id).result == {"blob": blob}, "the echoed result went to S3 too"


def test_real_lambda_handler_module_processes_a_batch(runtime, monkeypatch):
    for name, value in runtime.settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OFFLOAD_QUEUE", "default")
    import importlib

    from offload.runtime import set_default_runtime

    set_default_runtime(None)  # the handler builds its runtime from the environment, as in Lambda
    handler = importlib.import_module("offload.handlers.worker")
    job_id = enqueue("diag.echo", {"via": "handler"}, runtime=runtime)
    pump = Pump(runtime, "default")
    event = receive_event(boto3.client("sqs"), pump.url, arn=pump.arn)

    class Context:
        function_name = "offload-worker-default"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:offload-worker-default"
        aws_request_id = "req-1"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    assert handler.handler(event, Context()) == {"batchItemFailures": []}
    assert runtime.store.get(job_id).result == {"via": "handler"}


def test_operator_retry_of_a_failed_job_starts_again_from_attempt_one(runtime):
    job_id = enqueue("diag.flaky", {"fail_times": 1}, attempts=1)
    pump = Pump(runtime, "default")
    pump.until(lambda: _status(runtime, job_id).terminal)
    assert _status(runtime, job_id) == JobStatus.FAILED

    requeued = admin.retry(runtime, job_id)

    assert (requeued.status, requeued.attempts, requeued.error) == (JobStatus.QUEUED, 0, None)
    assert runtime.queues.receive_dead("default") == [], "its DLQ message was taken out"
    pump.until(lambda: _status(runtime, job_id).terminal)
    job = runtime.store.get(job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 1, "fail_times=1 fails the first attempt of every run"


def test_redrive_moves_dead_letters_back_and_they_complete(runtime):
    failing = [enqueue("diag.flaky", {"fail_until": time.time() + 1.5}, attempts=1) for _ in range(3)]
    pump = Pump(runtime, "default")
    pump.until(lambda: all(_status(runtime, j) == JobStatus.FAILED for j in failing))
    time.sleep(1.6)

    report = admin.redrive(runtime, "default")

    assert sorted(report.moved) == sorted(failing) and report.left == []
    pump.until(lambda: all(_status(runtime, j).terminal for j in failing))
    assert all(_status(runtime, j) == JobStatus.COMPLETED for j in failing)
    assert runtime.queues.depth("default")["dlq"] == 0


def test_redrive_rereads_a_rejected_message_instead_of_requeueing_its_empty_record(runtime):
    sqs = runtime.clients.sqs
    url = runtime.settings.queue_urls("default").url
    bad = json.dumps({"type": "diag.sleep", "data": {"seconds": "a while"}})
    first_id = sqs.send_message(QueueUrl=url, MessageBody=bad)["MessageId"]
    pump = Pump(runtime, "default")
    pump.once()

    report = admin.redrive(runtime, "default")
    pump.once()

    assert report.resent_foreign == 1 and report.moved == []
    with pytest.raises(admin.AdminError, match="could not be used"):
        admin.retry(runtime, f"sqs-{first_id}")
    [failed] = admin.list_jobs(runtime, JobStatus.FAILED)
    assert failed.job_id == f"sqs-{first_id}" and "data.seconds" in failed.error.reason


def test_redriving_a_malformed_foreign_message_twice_keeps_its_one_failed_record(runtime):
    # Given a foreign message whose data fails validation, rejected once by the worker
    url = runtime.settings.queue_urls("default").url
    bad = json.dumps({"type": "diag.sleep", "data": {"seconds": "a while"}})
    first_id = runtime.clients.sqs.send_message(QueueUrl=url, MessageBody=bad)["MessageId"]
    pump = Pump(runtime, "default")
    pump.once()

    # When it is redriven twice, and the worker reads it again each time
    for _ in range(2):
        assert admin.redrive(runtime, "default").resent_foreign == 1
        assert pump.once()[0] == 1

    # Then there is still exactly one failed record for it, and its message is back in the DLQ
    [failed] = admin.list_jobs(runtime, JobStatus.FAILED)
    assert failed.job_id == f"sqs-{first_id}" and "data.seconds" in failed.error.reason
    [dead] = runtime.queues.receive_dead("default")
    assert dead.body == bad and dead.attributes["offload-job-id"] == f"sqs-{first_id}"


def test_a_redriven_foreign_message_runs_under_its_record_once_the_catalog_knows_its_type(runtime):
    # Given a foreign message rejected by a deployment whose catalog lacks its type
    from dataclasses import replace

    from offload.runtime import Runtime

    older = Runtime(
        runtime.settings,
        runtime.clients,
        catalog=replace(
            runtime.catalog, job_types=tuple(t for t in runtime.catalog.job_types if t.name != "test.count")
        ),
    )
    url = runtime.settings.queue_urls("default").url
    message_id = runtime.clients.sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps({"type": "test.count", "data": {"label": "late"}})
    )["MessageId"]
    Pump(older, "default").once()
    assert _status(runtime, f"sqs-{message_id}") == JobStatus.FAILED

    # When the catalog is fixed and the DLQ redriven
    admin.redrive(runtime, "default")
    Pump(runtime, "default").until(lambda: _status(runtime, f"sqs-{message_id}") == JobStatus.COMPLETED)

    # Then the same record ran the job, and remembers the rejection
    job = runtime.store.get(f"sqs-{message_id}")
    assert job.result == {"label": "late", "attempt": 1} and RUNS == [job.job_id]
    assert [h.kind for h in job.history] == ["bad_message"]
    assert admin.list_jobs(runtime, JobStatus.FAILED) == []


def test_a_foreign_message_cannot_aim_itself_at_another_jobs_record(runtime):
    victim = enqueue("test.count", {"label": "victim"})
    url = runtime.settings.queue_urls("default").url
    message_id = runtime.clients.sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"type": "test.count", "data": {"label": "intruder"}}),
        MessageAttributes={"offload-job-id": {"DataType": "String", "StringValue": victim}},
    )["MessageId"]

    Pump(runtime, "default").until(lambda: runtime.queues.depth("default")["visible"] == 0)

    assert runtime.store.get(victim).result == {"label": "victim", "attempt": 1}
    assert runtime.store.get(f"sqs-{message_id}").result == {"label": "intruder", "attempt": 1}


def test_cancelling_a_running_job_stops_it_at_its_next_progress_update(runtime):
    job_id = enqueue("test.progress", {"steps": 10, "pause_s": 0.2})
    pump = Pump(runtime, "default")
    runner = threading.Thread(target=pump.once)
    runner.start()
    deadline = time.time() + 5
    while runtime.store.get(job_id).progress < 10 and time.time() < deadline:
        time.sleep(0.02)

    flagged = admin.cancel(runtime, job_id)
    runner.join()

    assert flagged.status == JobStatus.ACTIVE and flagged.cancel_requested
    job = runtime.store.get(job_id)
    assert job.status == JobStatus.CANCELLED and job.progress < 100


def test_rate_limited_job_is_deferred_without_using_an_attempt(runtime):
    job_id = enqueue("test.limited", {"limited_times": 2})
    sent_delays: list[int] = []
    runtime.clients.sqs.meta.events.register(
        "provide-client-params.sqs.SendMessage", lambda params, **_: sent_delays.append(params.get("DelaySeconds", 0))
    )

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal, timeout_s=30)

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.COMPLETED, "attempts=1, yet two rate-limited runs did not fail it"
    assert job.result == {"runs": 3, "attempt": 1}
    assert sent_delays == [1, 1], "each deferral re-sends the message with the limiter's retry-after"
    assert runtime.queues.depth("default")["dlq"] == 0


def test_enqueue_many_writes_in_batches_and_every_job_completes(runtime):
    calls: list[str] = []
    for op in ("BatchWriteItem", "SendMessageBatch", "PutItem", "SendMessage"):
        service = "dynamodb" if "Item" in op else "sqs"
        client = runtime.clients.dynamodb if service == "dynamodb" else runtime.clients.sqs
        client.meta.events.register(f"before-call.{service}.{op}", lambda op=op, **_: calls.append(op))

    ids = enqueue_many("diag.echo", [{"n": i} for i in range(30)])

    assert len(set(ids)) == 30
    assert calls.count("BatchWriteItem") == 2 and calls.count("SendMessageBatch") == 3
    assert "PutItem" not in calls and "SendMessage" not in calls
    Pump(runtime, "default").until(lambda: all(_status(runtime, j) == JobStatus.COMPLETED for j in ids))


def test_enqueue_many_refuses_the_whole_batch_naming_the_bad_item(runtime):
    with pytest.raises(PayloadError, match=r"item 2: .*data\.seconds"):
        enqueue_many("diag.sleep", [{"seconds": 1}, {"seconds": 2}, {"seconds": "x"}])
    assert admin.list_jobs(runtime, JobStatus.QUEUED) == []


def test_webhook_is_delivered_signed_and_the_signature_verifies(runtime):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from offload.jobs.notify import SIGNATURE_HEADER, verify
    from offload.testing.aws import WEBHOOK_SECRET

    received: list[tuple[bytes, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.rfile.read(int(self.headers["Content-Length"])), self.headers[SIGNATURE_HEADER]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        job_id = enqueue("diag.echo", {"x": 1}, webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hook")
        Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)
        Pump(runtime, "notifications", lane="high").until(lambda: len(received) == 1)  # webhook.deliver: priority 8
    finally:
        server.shutdown()

    body, signature = received[0]
    assert verify(WEBHOOK_SECRET, body, signature)
    assert not verify(WEBHOOK_SECRET, body.replace(b'"x": 1', b'"x": 2'), signature)
    payload = json.loads(body)
    assert payload["event"] == "job.completed" and payload["payload"]["job_id"] == job_id
    assert payload["payload"]["result"] == {"x": 1}


def _item_size(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values, in UTF-8 bytes (numbers counted as text)."""
    total = 0
    for name, typed in item.items():
        ((_, value),) = typed.items()
        total += len(name.encode()) + (1 if isinstance(value, bool) else len(str(value).encode()))
    return total


def test_a_large_result_goes_to_s3_and_the_completed_record_points_at_it(runtime):
    blob = "ж" * 250_000  # 500 KB of UTF-8: bigger than a DynamoDB item may be
    job_id = enqueue("diag.echo", {"blob": blob})

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)

    record = runtime.store.get(job_id)
    assert (record.status, record.progress, record.result) == (JobStatus.COMPLETED, 100, None)
    assert (
        record.finished_at and record.result_ref == f"s3://{runtime.settings.payload_bucket}/jobs/{job_id}/result.json"
    )
    assert admin.get_job(runtime, job_id).result == {"blob": blob}


def test_no_worker_write_can_take_a_record_near_the_dynamodb_item_limit(runtime):
    # Given a job whose inline data is just under the spill threshold, with the longest key and webhook
    limit = runtime.settings.large_data_bytes
    job_id = enqueue(
        "diag.echo",
        {"blob": "x" * (limit - 20)},
        idempotency_key="k" * 512,
        webhook_url="https://example.com/" + "p" * 2000,
    )
    job = runtime.store.get(job_id)
    assert job.data_ref is None, "the data stays inline: the worst case"
    # When every attempt fails with a huge error, and it then completes with the largest inline result
    huge = "e" * 1_000_000
    for attempt in range(1, 15):
        job = runtime.store.start(job_id, "default", lease_s=60).job or job
        runtime.store.requeue(runtime.store.fail(job, JobErrorInfo(step="process", reason=huge, attempt=attempt)))
    job = runtime.store.start(job_id, "default", lease_s=60).job
    done = runtime.store.complete(job, {"blob": "r" * (limit - 20)})

    # Then the record stays far below DynamoDB's 400 KB, with the history capped and the reasons cut
    assert done is not None and done.status == JobStatus.COMPLETED
    item = runtime.clients.dynamodb.get_item(TableName=runtime.settings.table, Key={"job_id": {"S": job_id}})["Item"]
    assert _item_size(item) < 300 * 1024, _item_size(item)
    assert len(done.history) == 10 and all(len(h.reason) <= 1000 for h in done.history)
    assert "characters cut" in done.history[-1].reason


def test_an_oversized_write_is_refused_by_moto_as_by_dynamodb(runtime):
    """Canary: the size test above means something only while moto enforces the item limit."""
    job_id = enqueue("diag.echo", {})
    with pytest.raises(ClientError, match="Item size"):
        runtime.clients.dynamodb.update_item(
            TableName=runtime.settings.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET big = :b",
            ExpressionAttributeValues={":b": {"S": "x" * 500_000}},
        )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"idempotency_key": "k" * 513}, "idempotency_key"),
        ({"webhook_url": "https://x.io/" + "p" * 2048}, "webhook_url"),
    ],
)
def test_enqueue_refuses_caller_strings_too_long_to_keep_in_the_record(runtime, options, named):
    with pytest.raises(ValueError, match=f"{named} must be"):
        enqueue("diag.echo", {}, **options)
    assert admin.list_jobs(runtime, JobStatus.QUEUED) == []


def test_a_failed_jobs_error_names_its_last_attempt_once(runtime):
    job_id = enqueue("diag.flaky", {"fail_until": time.time() + 60}, attempts=1)

    Pump(runtime, "default").until(lambda: _status(runtime, job_id).terminal)

    reason = runtime.store.get(job_id).error.reason
    assert reason.endswith("(attempt 1 of 1; no attempts left)") and reason.count("attempt 1") == 1, reason
