"""The local cloud's changes to moto for speed (offload.local.moto_sqs, offload.local.inprocess,
offload.local.moto_server.prepare_moto): the answers stay moto's, only the work per call shrinks."""

from __future__ import annotations

import importlib
import json
import time
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from offload.local.cloud import free_port
from offload.local.moto_sqs import make_sqs_linear
from offload.testing.aws import REGION, create_jobs_table


@pytest.fixture()
def linear(aws: Any) -> Any:
    undo = make_sqs_linear()
    yield
    undo()


def _queue_with_every_kind_of_message(sqs: Any, name: str) -> str:
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    for i in range(0, 30, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{i + n}"} for n in range(10)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.send_message(QueueUrl=url, MessageBody="later too", DelaySeconds=600)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=7)["Messages"]
    assert len(got) == 7
    return str(url)


COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]


def test_queue_counts_and_attributes_are_what_unpatched_moto_reports(aws: Any) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = _queue_with_every_kind_of_message(sqs, "counts")
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    undo = make_sqs_linear()
    try:
        after = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
    finally:
        undo()

    assert after == before
    assert counts == {COUNTS[0]: "23", COUNTS[1]: "7", COUNTS[2]: "2"}


def test_send_and_receive_read_the_clock_a_bounded_number_of_times_however_deep_the_queue(
    linear: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sqs import models

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    for i in range(0, 2000, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"{i + n}"} for n in range(10)])
    reads = 0
    clock = models.unix_time_millis

    def counted() -> float:
        nonlocal reads
        reads += 1
        return clock()

    monkeypatch.setattr(models, "unix_time_millis", counted)

    sqs.send_message(QueueUrl=url, MessageBody="one more")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    assert len(got) == 10
    # Unpatched moto reads it about 3 x 2,000 times per message handed out (60,000 here).
    assert reads < 100, reads


def test_a_message_past_its_retention_is_not_handed_out(linear: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    from moto.sqs.models import sqs_backends

    message: Any
    [message] = sqs_backends["123456789012"][REGION].get_queue("short")._messages
    message.sent_timestamp = int(message.sent_timestamp or 0) - 61_000  # sent 61 s ago, as the retention check sees it

    assert sqs.receive_message(QueueUrl=url).get("Messages") is None


@pytest.fixture()
def endpoint() -> Any:
    """moto's threaded server in this process, with the local cloud's patches, and the in-process handler."""
    from moto.server import ThreadedMotoServer

    from offload.local.inprocess import install
    from offload.local.moto_server import prepare_moto

    undo_patches = prepare_moto()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)
    over_http = _client("s3", url)  # made before install(): this one really crosses the socket
    handler, undo = install(url)
    yield url, handler, over_http
    undo()
    server.stop()
    undo_patches()


def _client(service: str, url: str) -> Any:
    config = Config(retries={"max_attempts": 1})
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    return session.client(service, endpoint_url=url, config=config)


def test_in_process_calls_reach_the_same_state_as_the_endpoint(endpoint: Any) -> None:
    url, handler, over_http = endpoint
    s3, sqs, ddb = _client("s3", url), _client("sqs", url), _client("dynamodb", url)
    key = "uploads/a b+c/ünïcode?.bin"
    payload = bytes(range(256)) * 300

    s3.create_bucket(Bucket="media")
    s3.put_object(Bucket="media", Key=key, Body=payload)
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"job_id": "j1"}))
    create_jobs_table(ddb, "jobs")
    ddb.put_item(TableName="jobs", Item={"job_id": {"S": "j1"}, "status": {"S": "queued"}})

    assert handler.calls >= 6
    assert over_http.get_object(Bucket="media", Key=key)["Body"].read() == payload  # stored, as seen over HTTP
    assert s3.get_object(Bucket="media", Key=key)["Body"].read() == payload  # and streamed back in-process
    assert s3.head_object(Bucket="media", Key=key)["ContentLength"] == len(payload)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(message["Body"]) == {"job_id": "j1"}
    assert ddb.get_item(TableName="jobs", Key={"job_id": {"S": "j1"}})["Item"]["status"] == {"S": "queued"}


def test_in_process_errors_are_moto_errors(endpoint: Any) -> None:
    url, _, _ = endpoint
    ddb, s3 = _client("dynamodb", url), _client("s3", url)
    create_jobs_table(ddb, "jobs")
    ddb.put_item(TableName="jobs", Item={"job_id": {"S": "j1"}, "status": {"S": "completed"}})

    with pytest.raises(ClientError) as refused:
        ddb.update_item(
            TableName="jobs",
            Key={"job_id": {"S": "j1"}},
            UpdateExpression="SET #s = :a",
            ConditionExpression="#s = :q",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":a": {"S": "active"}, ":q": {"S": "queued"}},
        )
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket="nowhere", Key="x")

    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"


def test_each_request_is_answered_once(endpoint: Any) -> None:
    """A request must run once: two answering handlers would, for example, receive two batches and lose one."""
    url, handler, _ = endpoint
    sqs = _client("sqs", url)
    queue = sqs.create_queue(QueueName="once")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(10)])
    calls = handler.calls

    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=5)["Messages"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])

    assert handler.calls == calls + 2
    assert len(got) == 5
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "5"


def test_after_the_undo_calls_go_over_http_again(endpoint: Any) -> None:
    url, handler, _ = endpoint
    sqs = _client("sqs", url)
    sqs.list_queues()
    calls = handler.calls
    handler.enabled = False  # what undo() does to sessions made while it was installed

    started = time.perf_counter()
    sqs.list_queues()  # the server is still up: the call succeeds, over the socket

    assert handler.calls == calls
    assert time.perf_counter() - started < 10


def test_deleting_finds_the_message_by_any_of_its_handles_and_only_that_one(linear: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="deletes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(5)])
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    assert again["MessageId"] == first["MessageId"]  # received twice: it has an old handle and a new one

    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # the old handle still deletes it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])  # deleting again is fine
    with pytest.raises(ClientError) as bad:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    assert bad.value.response["Error"]["Code"] in ("ReceiptHandleIsInvalid", "InvalidParameterValue")
    assert sorted(m["Body"] for m in left) == sorted(str(n) for n in range(5) if str(n) != first["Body"])


def test_an_exception_inside_moto_is_a_500_that_botocore_retries(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the endpoint's server answers when moto raises (its models aren't thread-safe everywhere)."""
    from moto.sqs.models import SQSBackend

    url, _, _ = endpoint
    sqs = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION).client(
        "sqs", endpoint_url=url, config=Config(retries={"max_attempts": 3, "mode": "standard"})
    )
    real = SQSBackend.list_queues
    calls = 0

    def flaky(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("dictionary changed size during iteration")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SQSBackend, "list_queues", flaky)

    answer = sqs.list_queues()

    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert calls == 2


def test_an_update_expression_is_parsed_once_and_each_update_gets_its_own_values(
    endpoint: Any, monkeypatch: Any
) -> None:
    from offload.local.moto_server import prepare_moto

    prepare_moto()  # applied already by the fixture: a second time changes nothing
    url, _, _ = endpoint
    ddb = _client("dynamodb", url)
    create_jobs_table(ddb, "jobs")
    expressions: Any = importlib.import_module("moto.dynamodb.parsing.expressions")  # untyped for mypy
    parses = 0
    tokenize = expressions.ExpressionTokenizer.make_list

    def counted(text: str) -> Any:
        nonlocal parses
        parses += 1
        return tokenize(text)

    monkeypatch.setattr(expressions.ExpressionTokenizer, "make_list", staticmethod(counted))
    text = "SET #s = :s, progress = :p ADD attempts :one"
    for job_id, status, progress in (("a", "active", 10), ("b", "completed", 100), ("a", "failed", 50)):
        ddb.update_item(
            TableName="jobs",
            Key={"job_id": {"S": job_id}},
            UpdateExpression=text,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":p": {"N": str(progress)}, ":one": {"N": "1"}},
        )

    a = ddb.get_item(TableName="jobs", Key={"job_id": {"S": "a"}})["Item"]
    b = ddb.get_item(TableName="jobs", Key={"job_id": {"S": "b"}})["Item"]
    assert parses <= 1  # unpatched moto tokenizes it twice per UpdateItem (6 here)
    assert (a["status"], a["progress"], a["attempts"]) == ({"S": "failed"}, {"N": "50"}, {"N": "2"})
    assert (b["status"], b["progress"], b["attempts"]) == ({"S": "completed"}, {"N": "100"}, {"N": "1"})
