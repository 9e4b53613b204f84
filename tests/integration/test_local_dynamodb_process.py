"""The local cloud's DynamoDB in a process of its own (offload.local.dynamodb_process): the functions' in-process
calls and the endpoint's HTTP callers reach the same tables there, its answers and errors are moto's, its writes
stay atomic, and a stopped process is a readable error, not a hang."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from offload.local.cloud import free_port
from offload.local.dynamodb_process import DynamoDBProcess, EndpointServer
from offload.local.inprocess import install
from offload.local.moto_server import prepare_moto
from offload.testing.aws import REGION, create_jobs_table


def _client(service: str, url: str, attempts: int = 1) -> Any:
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    return session.client(service, endpoint_url=url, config=Config(retries={"max_attempts": attempts}))


@pytest.fixture()
def split() -> Iterator[tuple[str, DynamoDBProcess, Any, Any]]:
    """The cloud's endpoint in this process (moto, patched) with DynamoDB forwarded to its own process, and the
    in-process handler; plus a client made before the handler, which really crosses the socket."""
    undo_patches = prepare_moto()
    dynamodb = DynamoDBProcess("127.0.0.1", free_port()).start()
    port = free_port()
    server = EndpointServer("127.0.0.1", port, dynamodb.wsgi).start()
    url = f"http://127.0.0.1:{port}"
    over_http = _client("dynamodb", url)
    handler, undo = install(url, dynamodb=dynamodb)
    try:
        yield url, dynamodb, handler, over_http
    finally:
        undo()
        server.stop()
        dynamodb.stop()
        undo_patches()


def test_in_process_and_http_callers_share_the_tables_that_live_in_the_other_process(split: Any) -> None:
    from moto.dynamodb.models import dynamodb_backends

    url, dynamodb, handler, over_http = split
    ddb, sqs = _client("dynamodb", url), _client("sqs", url)
    create_jobs_table(ddb, "jobs")
    ddb.put_item(TableName="jobs", Item={"job_id": {"S": "j1"}, "status": {"S": "queued"}, "blob": {"B": b"\x00\xff"}})
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    forwarded = dynamodb.forwarded

    seen_over_http = over_http.get_item(TableName="jobs", Key={"job_id": {"S": "j1"}})["Item"]
    seen_there = _client("dynamodb", dynamodb.endpoint).get_item(TableName="jobs", Key={"job_id": {"S": "j1"}})["Item"]
    here = dynamodb_backends["123456789012"][REGION].tables

    assert (
        seen_over_http == seen_there == {"job_id": {"S": "j1"}, "status": {"S": "queued"}, "blob": {"B": b"\x00\xff"}}
    )
    assert dynamodb.forwarded == forwarded + 1  # the HTTP caller's request went through the endpoint, forwarded
    assert "jobs" not in here  # this process's moto holds no table: they are all in the DynamoDB process
    assert handler.calls >= 3 and queue.endswith("/jobs")  # SQS stays in this process, answered in-process


def test_a_user_in_another_process_sees_the_tables_through_the_one_endpoint(split: Any) -> None:
    url, _, _, _ = split
    ddb = _client("dynamodb", url)
    create_jobs_table(ddb, "jobs")
    ddb.put_item(TableName="jobs", Item={"job_id": {"S": "j2"}, "status": {"S": "completed"}})
    script = (
        "import boto3, sys\n"
        f"db = boto3.client('dynamodb', endpoint_url={url!r}, region_name={REGION!r},"
        " aws_access_key_id='x', aws_secret_access_key='x')\n"
        "print(db.list_tables()['TableNames'], db.get_item(TableName='jobs', Key={'job_id': {'S': 'j2'}})['Item'])\n"
    )

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)

    assert out.stdout.strip() == "['jobs'] {'job_id': {'S': 'j2'}, 'status': {'S': 'completed'}}"


def test_errors_come_back_as_moto_answers_them(split: Any) -> None:
    url, _, _, over_http = split
    ddb = _client("dynamodb", url)
    create_jobs_table(ddb, "jobs")
    ddb.put_item(TableName="jobs", Item={"job_id": {"S": "j1"}, "status": {"S": "completed"}})
    refused = []
    for client in (ddb, over_http):
        with pytest.raises(ClientError) as caught:
            client.update_item(
                TableName="jobs",
                Key={"job_id": {"S": "j1"}},
                UpdateExpression="SET #s = :a",
                ConditionExpression="#s = :q",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":a": {"S": "active"}, ":q": {"S": "queued"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        refused.append(caught.value.response)
    with pytest.raises(ClientError) as missing:
        ddb.get_item(TableName="nowhere", Key={"job_id": {"S": "x"}})

    for response in refused:
        assert response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert response["Item"] == {"job_id": {"S": "j1"}, "status": {"S": "completed"}}
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_conditional_claim_raced_by_threads_has_one_winner_in_the_dynamodb_process(split: Any) -> None:
    url, _, _, _ = split
    ddb = _client("dynamodb", url)
    create_jobs_table(ddb, "jobs")
    rounds_with_two = 0
    for round_ in range(15):
        job = f"race-{round_}"
        ddb.put_item(TableName="jobs", Item={"job_id": {"S": job}, "status": {"S": "queued"}})
        wins: list[int] = []
        gate = threading.Barrier(6)

        def claim(n: int, job: str = job, wins: list[int] = wins, gate: threading.Barrier = gate) -> None:
            client = _client("dynamodb", url)
            gate.wait()
            try:
                client.update_item(
                    TableName="jobs",
                    Key={"job_id": {"S": job}},
                    UpdateExpression="SET #s = :a",
                    ConditionExpression="#s = :q",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":a": {"S": "active"}, ":q": {"S": "queued"}},
                )
                wins.append(n)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) >= 1
        rounds_with_two += len(wins) > 1

    assert rounds_with_two == 0


def test_a_stopped_dynamodb_process_is_an_error_that_names_it_at_once(split: Any) -> None:
    url, dynamodb, _, over_http = split
    ddb = _client("dynamodb", url, attempts=2)
    ddb.list_tables()
    dynamodb.stop()

    began = time.perf_counter()
    with pytest.raises(ClientError) as in_process:
        ddb.list_tables()
    with pytest.raises(ClientError) as over_the_socket:
        over_http.list_tables()
    waited = time.perf_counter() - began

    for caught in (in_process, over_the_socket):
        assert caught.value.response["Error"]["Code"] == "InternalServerError"
        assert "the local cloud's DynamoDB process" in caught.value.response["Error"]["Message"]
        assert "has stopped" in caught.value.response["Error"]["Message"]
    assert waited < 30  # answered, not left hanging until a timeout


def test_the_dynamodb_process_ends_when_the_process_that_started_it_is_killed(tmp_path: Any) -> None:
    port = free_port()
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).resolve().parents[2])!r})\n"
        "from offload.local.dynamodb_process import DynamoDBProcess\n"
        f"p = DynamoDBProcess('127.0.0.1', {port}).start()\n"
        "print(p.proc.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no clean-up of its own runs
    parent.wait()

    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            with open(f"/proc/{child}/status") as f:
                if "State:\tZ" in f.read():
                    break  # exited, waiting to be reaped by init
        except FileNotFoundError:
            break
        time.sleep(0.2)
    else:
        subprocess.run(["kill", "-9", str(child)], check=False)
        pytest.fail(f"the DynamoDB process {child} outlived its parent by 15 s")
