"""The SQS side of jobs: send, retry visibility, dead-letter moves and DLQ reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offload.catalog import Catalog
from offload.jobs.model import JobMessage
from offload.settings import Settings

# The message attribute that carries a job id alongside a body that has none: the DLQ copy of
# every failed message, and a redriven foreign {type, data} body (so it keeps its record).
JOB_ID_ATTRIBUTE = "offload-job-id"


@dataclass(frozen=True)
class DlqMessage:
    """A message read from a dead-letter queue, with what is needed to delete it."""

    body: str
    receipt_handle: str
    message_id: str
    attributes: dict[str, str]


class JobQueues:
    """Sends and moves job messages between a catalog queue and its DLQ."""

    def __init__(self, sqs: Any, settings: Settings, catalog: Catalog | None = None) -> None:
        self._sqs = sqs
        self._settings = settings
        self._catalog = catalog

    def lane_url(self, queue: str, priority: int | None = None) -> str:
        """The URL a job of this priority is sent to: its priority lane's queue, or the queue itself."""
        urls = self._settings.queue_urls(queue)
        if priority is None or self._catalog is None or not urls.lanes:
            return urls.url
        lane = self._catalog.queue(queue).lane_for(priority)
        return urls.lanes.get(lane.name, urls.url)

    def url_for_arn(self, arn: str) -> str:
        """The URL of a deployed queue (a catalog queue, a lane or a DLQ) from its ARN."""
        name = arn.rsplit(":", 1)[-1]
        for urls in self._settings.queues.values():
            for url in (urls.url, urls.dlq_url, *urls.lanes.values()):
                if url.rstrip("/").rsplit("/", 1)[-1] == name:
                    return url
        raise KeyError(f"no deployed queue named {name!r} (from {arn})")

    def send(self, queue: str, message: JobMessage, *, delay_s: int = 0, priority: int | None = None) -> str:
        """Put a job message on a catalog queue (its priority lane); returns the SQS message id."""
        resp = self._sqs.send_message(
            QueueUrl=self.lane_url(queue, priority),
            MessageBody=message.model_dump_json(),
            DelaySeconds=delay_s,
        )
        return str(resp["MessageId"])

    def send_to(self, url: str, message: JobMessage, *, delay_s: int = 0) -> None:
        """Put a job message back on the exact queue it came from."""
        self._sqs.send_message(QueueUrl=url, MessageBody=message.model_dump_json(), DelaySeconds=delay_s)

    def send_many(
        self, queue: str, messages: list[JobMessage], *, delay_s: int = 0, priority: int | None = None
    ) -> dict[str, str]:
        """Send in batches of 10; returns {job id: reason} for messages SQS refused after one retry."""
        url = self.lane_url(queue, priority)
        refused: dict[str, str] = {}
        for i in range(0, len(messages), 10):
            entries = {
                str(n): {"Id": str(n), "MessageBody": m.model_dump_json(), "DelaySeconds": delay_s}
                for n, m in enumerate(messages[i : i + 10])
            }
            by_id = {str(n): m.job_id for n, m in enumerate(messages[i : i + 10])}
            for _ in range(2):
                resp = self._sqs.send_message_batch(QueueUrl=url, Entries=list(entries.values()))
                failed = resp.get("Failed", [])
                entries = {f["Id"]: entries[f["Id"]] for f in failed}
                if not entries:
                    break
            for f in failed:
                refused[by_id[f["Id"]]] = f.get("Message", f.get("Code", "refused"))
        return refused

    def send_raw(self, queue: str, body: str, *, job_id: str | None = None) -> str:
        """Put a body back on a catalog queue as it is (a foreign {type, data} message); `job_id`
        names the record it already has, so the worker reuses that record instead of making another.
        Returns the SQS message id (the worker adopts a body without a record as job `sqs-<id>`)."""
        attributes = {JOB_ID_ATTRIBUTE: {"DataType": "String", "StringValue": job_id}} if job_id else {}
        resp = self._sqs.send_message(
            QueueUrl=self._settings.queue_urls(queue).url, MessageBody=body, MessageAttributes=attributes
        )
        return str(resp["MessageId"])

    def acknowledge(self, url: str, receipt_handles: list[str]) -> int:
        """Delete received messages now, as the event source does once the batch returns (DeleteMessageBatch,
        10 a call); returns how many SQS refused (logged: such a message comes back and is handled again)."""
        refused = 0
        for i in range(0, len(receipt_handles), 10):
            entries = [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(receipt_handles[i : i + 10])]
            failed = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            refused += len(failed)
        return refused

    def retry_later(self, url: str, receipt_handle: str, delay_s: int) -> None:
        """Keep a received message hidden for the backoff delay; it comes back then."""
        self._sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_s)

    def dead_letter(self, queue: str, body: str, *, reason: str, job_id: str | None, source_message_id: str) -> None:
        """Copy a message to the queue's DLQ with why it is there (the caller then acknowledges it)."""
        attributes = {
            "offload-reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
            "offload-source-message-id": {"DataType": "String", "StringValue": source_message_id},
        }
        if job_id:
            attributes[JOB_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": job_id}
        self._sqs.send_message(
            QueueUrl=self._settings.queue_urls(queue).dlq_url, MessageBody=body, MessageAttributes=attributes
        )

    def receive_dead(self, queue: str, *, max_messages: int = 10, hide_s: int = 60) -> list[DlqMessage]:
        """Read up to 10 DLQ messages, hiding them for `hide_s` while the caller handles them."""
        resp = self._sqs.receive_message(
            QueueUrl=self._settings.queue_urls(queue).dlq_url,
            MaxNumberOfMessages=max_messages,
            VisibilityTimeout=hide_s,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        return [
            DlqMessage(
                body=m["Body"],
                receipt_handle=m["ReceiptHandle"],
                message_id=m["MessageId"],
                attributes={k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()},
            )
            for m in resp.get("Messages", [])
        ]

    def delete_dead(self, queue: str, receipt_handle: str) -> None:
        """Remove a handled message from the DLQ."""
        self._sqs.delete_message(QueueUrl=self._settings.queue_urls(queue).dlq_url, ReceiptHandle=receipt_handle)

    def release_dead(self, queue: str, receipt_handle: str) -> None:
        """Make a DLQ message visible again (it was read but is not ours to move)."""
        self._sqs.change_message_visibility(
            QueueUrl=self._settings.queue_urls(queue).dlq_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
        )

    def depth(self, queue: str) -> dict[str, int]:
        """SQS's approximate counts for a queue and its DLQ."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        urls = self._settings.queue_urls(queue)
        totals = {"visible": 0, "in_flight": 0, "delayed": 0}
        for url in (urls.url, *urls.lanes.values()):  # a queue with priority lanes counts them all
            attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            for key, name in zip(totals, names, strict=True):
                totals[key] += int(attrs.get(name, 0))
        dlq = self._sqs.get_queue_attributes(QueueUrl=urls.dlq_url, AttributeNames=names[:1])["Attributes"]
        return {**totals, "dlq": int(dlq.get(names[0], 0))}
