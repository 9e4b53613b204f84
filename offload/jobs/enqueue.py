"""Create a job: validate it against the catalog, write its record, send its message."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from offload.catalog import SQS_MAX_DELAY_S, Backoff
from offload.errors import NonRetryableError
from offload.jobs.model import (
    Job,
    JobErrorInfo,
    JobMessage,
    JobStatus,
    idempotent_job_id,
    new_job_id,
    now_iso,
    to_json,
)
from offload.jobs.registry import PayloadError, validate_payload
from offload.runtime import Runtime, default_runtime

# A queued job whose message may never have been sent (the enqueuer died in between) gets
# its message again when the same idempotency key is enqueued after this long.
RESEND_AFTER_S = 60


class EnqueueError(RuntimeError):
    """The job could not be created; the message says why and what to change."""


def enqueue(
    type: str,
    data: Any = None,
    *,
    delay: float | timedelta | None = None,
    idempotency_key: str | None = None,
    attempts: int | None = None,
    backoff: Backoff | None = None,
    webhook_url: str | None = None,
    priority: int | None = None,
    runtime: Runtime | None = None,
) -> str:
    """Queue a job of a catalog type and return its id at once (status `queued` or `delayed`)."""
    rt = runtime or default_runtime()
    jt = rt.catalog.job_type(type)
    policy = rt.catalog.policy(type, attempts=attempts, backoff=backoff)
    payload = validate_payload(rt.catalog, type, {} if data is None else data)
    delay_s = _delay_seconds(delay)
    if webhook_url is not None:
        _check_webhook_url(webhook_url)
    job_id = idempotent_job_id(type, idempotency_key) if idempotency_key else new_job_id()
    stored = payload.model_dump(mode="json")
    data_field, data_ref = _place_data(rt, job_id, stored)
    ts = now_iso()
    job = Job(
        job_id=job_id,
        type=type,
        queue=jt.queue,
        status=JobStatus.DELAYED if delay_s else JobStatus.QUEUED,
        max_attempts=policy.attempts,
        backoff=policy.backoff.as_dict(),
        timeout_s=policy.timeout_s,
        priority=jt.priority if priority is None else priority,
        data=data_field,
        data_ref=data_ref,
        idempotency_key=idempotency_key,
        webhook_url=webhook_url,
        created_at=ts,
        updated_at=ts,
    )
    record, created = rt.store.create(job)
    if not created and not _message_may_be_lost(record):
        return record.job_id
    try:
        rt.queues.send(jt.queue, JobMessage(job_id=job_id, type=type), delay_s=delay_s)
    except Exception as exc:
        rt.store.fail(record, JobErrorInfo(step="enqueue", reason=f"could not send to queue {jt.queue!r}: {exc}"))
        raise EnqueueError(f"job {job_id} was recorded but its message could not be sent: {exc}") from exc
    return job_id


def enqueue_many(
    type: str,
    items: Iterable[Any],
    *,
    delay: float | timedelta | None = None,
    attempts: int | None = None,
    backoff: Backoff | None = None,
    priority: int | None = None,
    runtime: Runtime | None = None,
) -> list[str]:
    """Queue many jobs of one type in batched writes (25 records, 10 messages per request).

    Every item is validated before anything is written; the error names the item's index.
    There are no idempotency keys here (a batched write can't be conditional): use enqueue()
    for jobs that must not run twice when the caller retries.
    """
    rt = runtime or default_runtime()
    jt = rt.catalog.job_type(type)
    policy = rt.catalog.policy(type, attempts=attempts, backoff=backoff)
    delay_s = _delay_seconds(delay)
    payloads = []
    for index, data in enumerate(items):
        try:
            payloads.append(validate_payload(rt.catalog, type, {} if data is None else data))
        except PayloadError as exc:
            raise PayloadError(f"item {index}: {exc}") from None
    ts = now_iso()
    jobs = []
    for payload in payloads:
        job_id = new_job_id()
        data_field, data_ref = _place_data(rt, job_id, payload.model_dump(mode="json"))
        jobs.append(
            Job(
                job_id=job_id,
                type=type,
                queue=jt.queue,
                status=JobStatus.DELAYED if delay_s else JobStatus.QUEUED,
                max_attempts=policy.attempts,
                backoff=policy.backoff.as_dict(),
                timeout_s=policy.timeout_s,
                priority=jt.priority if priority is None else priority,
                data=data_field,
                data_ref=data_ref,
                created_at=ts,
                updated_at=ts,
            )
        )
    rt.store.create_many(jobs)
    unsent = rt.queues.send_many(jt.queue, [JobMessage(job_id=j.job_id, type=type) for j in jobs], delay_s=delay_s)
    if unsent:
        failed = {j.job_id: j for j in jobs}
        for job_id, reason in unsent.items():
            rt.store.fail(failed[job_id], JobErrorInfo(step="enqueue", reason=f"could not send to queue: {reason}"))
        raise EnqueueError(f"{len(unsent)} of {len(jobs)} jobs were recorded as failed: their messages were refused")
    return [j.job_id for j in jobs]


def _delay_seconds(delay: float | timedelta | None) -> int:
    if delay is None:
        return 0
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0:
        raise ValueError(f"delay must be >= 0 seconds, got {seconds}")
    if seconds > SQS_MAX_DELAY_S:
        raise ValueError(
            f"delay of {seconds:.0f} s exceeds SQS's {SQS_MAX_DELAY_S} s maximum; "
            "longer delays are not supported yet: schedule the enqueue yourself"
        )
    return round(seconds)


def _check_webhook_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise ValueError(f"webhook_url must be an http(s) URL, got {url!r}")


def _place_data(rt: Runtime, job_id: str, data: Any) -> tuple[Any, str | None]:
    """Small data goes in the record; large data goes to S3 and the record keeps the key."""
    body = to_json(data)
    if len(body.encode()) <= rt.settings.large_data_bytes:
        return data, None
    key = f"jobs/{job_id}/data.json"
    rt.clients.s3.put_object(
        Bucket=rt.settings.payload_bucket, Key=key, Body=body.encode(), ContentType="application/json"
    )
    return None, f"s3://{rt.settings.payload_bucket}/{key}"


def _message_may_be_lost(job: Job) -> bool:
    if job.status != JobStatus.QUEUED:
        return False
    from datetime import datetime

    created = datetime.fromisoformat(job.created_at).timestamp()
    return time.time() - created > RESEND_AFTER_S


def load_data(rt: Runtime, job: Job) -> Any:
    """The job's data, from the record or from S3 when it was too large for the record."""
    if job.data_ref is None:
        return job.data
    bucket, _, key = job.data_ref.removeprefix("s3://").partition("/")
    try:
        body = rt.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except rt.clients.s3.exceptions.NoSuchKey:
        raise NonRetryableError(f"job data {job.data_ref} is missing from S3") from None
    import json

    return json.loads(body)
