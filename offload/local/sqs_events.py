"""Lambda's SQS event source, done locally: receive a batch, build the event, settle the results.

AWS's event source mapping receives up to `batch_size` messages, invokes the function with
an `aws:sqs` event, and deletes every record not named in `batchItemFailures`; the failed
ones come back when their visibility timeout ends. This module does the same against any
SQS endpoint (moto in tests, the local cloud's server).
"""

from __future__ import annotations

from typing import Any


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
