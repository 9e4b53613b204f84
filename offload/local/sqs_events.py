"""Lambda's SQS event source, done locally: receive a batch, build the event, settle the results.

AWS's event source mapping receives up to `batch_size` messages, invokes the function with
an `aws:sqs` event, and deletes every record not named in `batchItemFailures`; the failed
ones come back when their visibility timeout ends. This module does the same against any
SQS endpoint (moto in tests, the local cloud's server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


def queue_arn(sqs: Any, queue_url: str) -> str:
    """The ARN of a queue, as records carry it in eventSourceARN."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def receive_event(
    sqs: Any, queue_url: str, *, arn: str, batch_size: int = 10, wait_s: int = 0, region: str = "us-east-1"
) -> dict[str, Any] | None:
    """Receive up to batch_size messages as a Lambda SQS event, or None when none are visible."""
    resp = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=batch_size,
        WaitTimeSeconds=wait_s,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    messages = resp.get("Messages", [])
    if not messages:
        return None
    return {"Records": [_record(m, arn, region) for m in messages]}


def _record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    attributes = {
        k: v
        for k, v in message.get("Attributes", {}).items()
        if k
        in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
        )
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def settle(sqs: Any, queue_url: str, event: dict[str, Any], response: dict[str, Any] | None) -> list[str]:
    """Delete the records the function did not report as failed; returns the failed message ids."""
    failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
    done = [r for r in event["Records"] if r["messageId"] not in failed]
    for i in range(0, len(done), 10):
        chunk = done[i : i + 10]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)],
        )
    return sorted(failed)


def deliver_once(
    sqs: Any,
    queue_url: str,
    handler: Any,
    *,
    arn: str,
    batch_size: int = 10,
    context: Any = None,
    wait_s: int = 0,
    report_failures: bool = True,
) -> tuple[int, list[str]]:
    """One event source poll: receive a batch, invoke `handler(event, context)`, settle.

    Returns (records delivered, failed message ids). If the handler raises, nothing is
    deleted, as on AWS: the whole batch comes back after its visibility timeout.
    """
    event = receive_event(sqs, queue_url, arn=arn, batch_size=batch_size, wait_s=wait_s)
    if event is None:
        return 0, []
    response = handler(event, context)
    # Without ReportBatchItemFailures, Lambda ignores the response: a return means all succeeded.
    return len(event["Records"]), settle(sqs, queue_url, event, response if report_failures else None)


def stop_moto_delivering() -> Callable[[], None]:
    """Make the local cloud's pollers the only deliverer of SQS messages to functions.

    The local cloud creates each event source mapping in moto's Lambda backend too, so `pause` and `resume`
    (`lambda:UpdateEventSourceMapping`) work there as on AWS. moto would then deliver by itself: its
    `Queue.add_message` invokes the function of every enabled mapping, inside the SendMessage call, through
    Docker. With this, the mappings moto records on a queue go nowhere (idempotent; applies to this process's
    moto, so the server process calls it too: offload.local.moto_server). Returns the undo, after which the
    queues deliver through mappings created from then on again."""
    from moto.sqs.models import Queue

    if isinstance(getattr(Queue, "lambda_event_source_mappings", None), property):
        return lambda: None

    def keep_on_the_queue(queue: Queue, value: dict[str, Any]) -> None:
        vars(queue)["lambda_event_source_mappings"] = value  # Queue.__init__'s own (empty) dict, seen after undo

    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda queue: {}, keep_on_the_queue, doc="always empty while offload.local's pollers deliver"
    )

    def undo() -> None:
        delattr(Queue, "lambda_event_source_mappings")

    return undo


class MappingState:
    """Whether an event source mapping is enabled, read from the Lambda API at most every `every_s` seconds
    and shared by the source's pollers (one GetEventSourceMapping per period, not one per receive)."""

    def __init__(self, lam: Any, uuid: str | None, *, every_s: float = 0.5) -> None:
        self._lam = lam
        self.uuid = uuid
        self.every_s = every_s
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._enabled = True

    def enabled(self) -> bool:
        """The last state read; a mapping that was never created (no uuid) counts as enabled."""
        if self.uuid is None:
            return True
        with self._lock:
            if time.monotonic() - self._checked >= self.every_s:
                try:
                    state = self._lam.get_event_source_mapping(UUID=self.uuid)["State"]
                    self._enabled = state not in ("Disabled", "Disabling")
                except (BotoCoreError, ClientError):  # the endpoint is busy or stopping: keep the last state
                    pass
                self._checked = time.monotonic()
            return self._enabled
