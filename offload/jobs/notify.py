"""What the outside world hears about finished jobs: EventBridge events, admin alerts, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from offload.jobs.model import Job, JobStatus, to_json
from offload.observability import logger

EVENT_SOURCE = "offload.jobs"
DETAIL_TYPES = {
    JobStatus.COMPLETED: "Job Completed",
    JobStatus.FAILED: "Job Failed",
    JobStatus.CANCELLED: "Job Cancelled",
}
SIGNATURE_HEADER = "X-Offload-Signature"
# Standard Webhooks (standardwebhooks.com): what receivers verify with any of its libraries.
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# PutEvents takes at most 10 entries per call.
_PUT_EVENTS_MAX = 10
# AWS caps a PutEvents request at 256 KB of entries; keep well under it.
_PUT_EVENTS_BYTES = 200 * 1024
# Results larger than this travel by reference (result_ref) in events and webhooks, not inline.
_DETAIL_RESULT_MAX = 16 * 1024


def event_detail(job: Job) -> dict[str, Any]:
    """The event/webhook body for a finished job: its summary, with a large result left to `result_ref`
    (`offload jobs get` reads it back) so every event stays far below EventBridge's 256 KB."""
    detail = job.summary()
    if len(to_json(detail.get("result")).encode()) > _DETAIL_RESULT_MAX:
        detail["result"] = None
        detail["result_omitted"] = "too large for an event: read it with `offload jobs get` or its result_ref"
    return detail


def _chunks(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """PutEvents requests: at most 10 entries and _PUT_EVENTS_BYTES of entry data each."""
    chunks: list[list[dict[str, Any]]] = []
    size = 0
    for entry in entries:
        entry_size = sum(len(str(v).encode()) for v in entry.values())
        if not chunks or len(chunks[-1]) >= _PUT_EVENTS_MAX or size + entry_size > _PUT_EVENTS_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += entry_size
    return chunks


class EventBuffer:
    """Collects a batch's terminal events and sends them in as few PutEvents calls as possible."""

    def __init__(self, events_client: Any, bus: str) -> None:
        self._client = events_client
        self._bus = bus
        self._entries: list[dict[str, Any]] = []

    def add(self, job: Job) -> None:
        """Queue the event for a job that reached a terminal state."""
        self._entries.append(
            {
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPES[job.status],
                "Detail": to_json(event_detail(job)),
                "EventBusName": self._bus,
                "Resources": [],
            }
        )

    def flush(self) -> int:
        """Send what was collected; returns how many entries EventBridge refused (logged, not raised:
        the jobs are already finished and their records are the source of truth)."""
        refused = 0
        entries, self._entries = self._entries, []
        for chunk in _chunks(entries):
            try:
                resp = self._client.put_events(Entries=chunk)
                refused += int(resp.get("FailedEntryCount", 0))
            except Exception:
                logger.exception("could not publish job events", count=len(chunk))
                refused += len(chunk)
        if refused:
            logger.error("EventBridge refused job events", refused=refused)
        return refused


@dataclass(frozen=True)
class Alert:
    """What the admins are told when something failed for good: what, at which step, why, and the
    commands to inspect or retry it. Jobs (`job_alert`) and the image pipeline send this one format."""

    subject: str
    what: str
    step: str
    reason: str
    commands: tuple[tuple[str, str], ...] = ()  # (what it does, the command)
    details: dict[str, Any] | None = None

    def message(self) -> str:
        body = f"{self.what}\nStep: {self.step}\nReason: {self.reason}"
        if self.commands:
            body += "\n\n" + "\n".join(f"{label}: {command}" for label, command in self.commands)
        if self.details is not None:
            body += "\n\n" + json.dumps(self.details, indent=2, default=str)
        return body


def job_alert(job: Job) -> Alert:
    """The alert for a job that has failed for good."""
    return Alert(
        subject=f"offload: job {job.type} failed",
        what=(
            f"Job {job.job_id} ({job.type} on queue {job.queue}) failed after {job.attempts} of "
            f"{job.max_attempts} attempts."
        ),
        step=job.error.step if job.error else "unknown",
        reason=job.error.reason if job.error else "unknown",
        commands=(
            ("Retry it", f"offload jobs retry {job.job_id}"),
            ("Or redrive the queue", f"offload queues redrive {job.queue}"),
        ),
        details=job.summary(),
    )


def publish_alert(sns_client: Any, topic_arn: str, alert: Alert) -> None:
    """Send an alert to the admins' SNS topic."""
    sns_client.publish(TopicArn=topic_arn, Subject=_sns_subject(alert.subject), Message=alert.message())


def _sns_subject(text: str) -> str:
    """SNS subjects are printable ASCII without line breaks, at most 100 characters."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    return "".join(ch if ch.isprintable() else " " for ch in ascii_text)[:100]


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for a webhook body: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """True when `header` is a valid signature of `body` made within `tolerance_s` (for receivers)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def standard_secret(secret: str) -> str:
    """The secret as a Standard Webhooks receiver is given it: `whsec_` + base64 of the key bytes
    (a secret already in that form is used as it is)."""
    if secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def standard_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of a body: webhook-id, webhook-timestamp, webhook-signature
    (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, signed by the `standardwebhooks` library)."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    ts = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(standard_secret(secret)).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}
