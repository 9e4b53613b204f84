"""The local cloud's changes to moto for memory (offload.local.moto_server._forget_copies, the deleted-handle
window in offload.local.moto_sqs): what moto is done with is let go; every answer within the window stays moto's."""

from __future__ import annotations

import gc
import sys
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from offload.local import moto_sqs
from offload.local.moto_server import prepare_moto
from offload.testing.aws import REGION, create_jobs_table

ACCOUNT = "123456789012"  # moto's default


@pytest.fixture()
def patched(aws: Any) -> Any:
    undo = prepare_moto()
    yield
    undo()


def _live(cls: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)


def test_the_items_and_messages_moto_copies_for_answers_are_let_go(patched: None) -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.sqs.models import Message

    ddb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    create_jobs_table(ddb, "jobs")
    for n in range(20):
        ddb.put_item(TableName="jobs", Item={"job_id": {"S": f"j{n}"}, "status": {"S": "queued"}})
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    items_before, messages_before = _live(Item), _live(Message)
    tracked_before = len(Item.instances_tracked), len(Message.instances_tracked)  # type: ignore[attr-defined]

    for n in range(20):  # what a TTL sweep, the workers and the producer do, over and over
        assert len(ddb.scan(TableName="jobs")["Items"]) == 20  # moto copies every item a scan reads
        ddb.update_item(
            TableName="jobs",
            Key={"job_id": {"S": f"j{n}"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "completed"}},
            ReturnValues="ALL_NEW",
        )
        assert ddb.get_item(TableName="jobs", Key={"job_id": {"S": f"j{n}"}})["Item"]["status"] == {"S": "completed"}
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        got = sqs.receive_message(QueueUrl=url)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])

    # The 20 items the table holds, no copy of them (unpatched moto: 400 scanned copies and more, kept for its
    # dashboard); no message (the queue is empty; unpatched: all 20).
    assert _live(Item) - items_before == 0
    assert _live(Message) - messages_before == 0
    assert (len(Item.instances_tracked), len(Message.instances_tracked)) == tracked_before  # type: ignore[attr-defined]


def test_the_undo_tracks_them_again(aws: Any) -> None:
    from moto.sqs.models import Message

    prepare_moto()()
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    tracked = len(Message.instances_tracked)  # type: ignore[attr-defined]
    sqs.send_message(QueueUrl=url, MessageBody="m")

    assert len(Message.instances_tracked) == tracked + 1  # type: ignore[attr-defined]


def test_a_queue_keeps_the_handles_of_its_last_deleted_messages_only(
    patched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sqs.models import sqs_backends

    monkeypatch.setattr(moto_sqs, "DELETED_HANDLES_KEPT", 5)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="deletes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    queue = sqs_backends[ACCOUNT][REGION].queues["deletes"]
    handles: list[list[str]] = []
    for n in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
        first = sqs.receive_message(QueueUrl=url)["Messages"][0]
        again = sqs.receive_message(QueueUrl=url)["Messages"][0]  # received twice: an old handle and a new one
        sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # deleting again is fine
        handles.append([first["ReceiptHandle"], again["ReceiptHandle"]])

    assert len(queue.deleted_messages) == 2 * 5  # unpatched: 60, one more pair per message, for good
    for recent in handles[-5:]:  # a recent message deleted twice more, by either handle: fine, as on AWS
        for handle in recent:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    batch = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": handles[-1][1]}])
    assert batch.get("Failed", []) == [] and len(batch["Successful"]) == 1
    with pytest.raises(ClientError) as old:  # out of the window: refused, where SQS would accept it
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handles[0][1])
    assert old.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_deletes_and_sends_at_once_neither_bring_back_nor_drop_a_message(patched: None) -> None:
    """The pollers delete from a queue while the producer sends to it, from other threads."""
    from moto.sqs.models import sqs_backends

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="busy", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    backend = sqs_backends[ACCOUNT][REGION]
    for i in range(0, 1200, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"old {i + n}"} for n in range(10)])
    received: list[str] = []
    while len(received) < 1200:
        received += [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]

    def delete(handles: list[str]) -> None:
        for handle in handles:
            backend.delete_message("busy", handle)

    def send(prefix: str) -> None:
        for n in range(300):
            backend.send_message("busy", f"{prefix} {n}")

    threads = [threading.Thread(target=delete, args=(received[k::3],)) for k in range(3)]
    threads += [threading.Thread(target=send, args=(f"new {k}",)) for k in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns often, as on a busy machine
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    left = sorted(m.body for m in backend.queues["busy"]._messages)
    assert left == sorted(f"new {k} {n}" for k in range(2) for n in range(300))  # unpatched: hundreds of old


def test_receivers_at_once_are_never_handed_one_message_twice(patched: None) -> None:
    """The pollers of one queue receive from it at once, from other threads: each message goes to one of them
    (a second copy, taken for a duplicate and deleted, lost the retry of the job the first was running)."""
    from moto.sqs.models import sqs_backends

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="shared", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    backend = sqs_backends[ACCOUNT][REGION]
    for i in range(0, 600, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m {i + n}"} for n in range(10)])
    got: list[list[str]] = [[] for _ in range(6)]

    def poll(mine: list[str]) -> None:
        while batch := backend.receive_message("shared", 10, 0, 600):
            mine.extend(m.body for m in batch)

    threads = [threading.Thread(target=poll, args=(mine,)) for mine in got]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    bodies = [body for mine in got for body in mine]
    assert sorted(bodies) == sorted(f"m {n}" for n in range(600))  # each once; unpatched, some twice
    waited = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)  # a long poll still waits, then answers empty
    assert "Messages" not in waited
