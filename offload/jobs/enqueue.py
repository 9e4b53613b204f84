"""Create a job: validate it against the catalog, write its record, send its message."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import BaseModel

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

if TYPE_CHECKING:
    from offload.runtime import Runtime  # offload.runtime imports the job store: no import at run time

# Longer than this is more likely a unit mistake than a plan.
MAX_DELAY_S = 366 * 86400
# A queued job whose message may never have been sent (the enqueuer died in between) gets
# its message again when the same idempotency key is enqueued after this long. Shorter than any
# queue's visibility timeout (6 x a 3 s function at the least: 18 s), so a worker that died inside
# an on-finish hook's enqueue has the hook's message sent when its own redelivery announces again
# (bench/chaos.py, worker-killed). A spare message is harmless: the worker's conditional start drops it.
RESEND_AFTER_S = 10
# Bounds on the caller's strings that the record keeps (see model.MAX_REASON_CHARS for the rest).
MAX_IDEMPOTENCY_KEY_CHARS = 512
MAX_WEBHOOK_URL_CHARS = 2048


class EnqueueError(RuntimeError):
    """The job could not be created; the message says why and what to change."""


def enqueue(
    type: str,
    data: Any = None,
    *,
    delay: float | timedelta | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    attempts: int | None = None,
    backoff: Backoff | None = None,
    webhook_url: str | None = None,
    priority: int | None = None,
    runtime: Runtime | None = None,
) -> str:
    """Queue a job of a catalog type and return its id at once (status `queued` or `delayed`)."""
    rt = _runtime(runtime)
    jt = rt.catalog.job_type(type)
    rt.catalog.policy(type, attempts=attempts, backoff=backoff)  # refuses bad overrides before any write
    payload = validate_payload(rt.catalog, type, {} if data is None else data)
    wait = _Wait.of(delay, run_at)
    if webhook_url is not None:
        _check_webhook_url(webhook_url)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValueError(
            f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters, got {len(idempotency_key)}; "
            "use a short business key such as 'invoice-2026-11-c42'"
        )
    job_id = idempotent_job_id(type, idempotency_key) if idempotency_key else new_job_id()
    job = new_job_record(
        rt,
        job_id,
        type,
        payload,
        wait,
        priority=priority,
        attempts=attempts,
        backoff=backoff,
        idempotency_key=idempotency_key,
        webhook_url=webhook_url,
    )
    record, created = rt.store.create(job)
    if not created and not _message_may_be_lost(record):
        return record.job_id
    try:
        rt.queues.send(jt.queue, wait.message(job_id, type), delay_s=wait.first_hop_s, priority=job.priority)
    except Exception as exc:
        rt.store.fail(record, JobErrorInfo(step="enqueue", reason=f"could not send to queue {jt.queue!r}: {exc}"))
        raise EnqueueError(f"job {job_id} was recorded but its message could not be sent: {exc}") from exc
    return job_id


def enqueue_many(
    type: str,
    items: Iterable[Any],
    *,
    delay: float | timedelta | None = None,
    run_at: datetime | None = None,
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
    rt = _runtime(runtime)
    jt = rt.catalog.job_type(type)
    rt.catalog.policy(type, attempts=attempts, backoff=backoff)  # refuses bad overrides before any write
    wait = _Wait.of(delay, run_at)
    payloads = []
    for index, data in enumerate(items):
        try:
            payloads.append(validate_payload(rt.catalog, type, {} if data is None else data))
        except PayloadError as exc:
            raise PayloadError(f"item {index}: {exc}") from None
    jobs = [
        new_job_record(rt, new_job_id(), type, payload, wait, priority=priority, attempts=attempts, backoff=backoff)
        for payload in payloads
    ]
    rt.store.create_many(jobs)
    unsent = rt.queues.send_many(
        jt.queue,
        [wait.message(j.job_id, type) for j in jobs],
        delay_s=wait.first_hop_s,
        priority=jt.priority if priority is None else priority,
    )
    if unsent:
        failed = {j.job_id: j for j in jobs}
        for job_id, reason in unsent.items():
            rt.store.fail(failed[job_id], JobErrorInfo(step="enqueue", reason=f"could not send to queue: {reason}"))
        raise EnqueueError(f"{len(unsent)} of {len(jobs)} jobs were recorded as failed: their messages were refused")
    return [j.job_id for j in jobs]


def new_job_record(
    rt: Runtime,
    job_id: str,
    type_name: str,
    payload: BaseModel,
    wait: _Wait | None = None,
    *,
    priority: int | None = None,
    attempts: int | None = None,
    backoff: Backoff | None = None,
    idempotency_key: str | None = None,
    webhook_url: str | None = None,
) -> Job:
    """A new job's record: catalog policy with the caller's overrides, data inline or in S3."""
    wait = wait or _Wait(seconds=0.0, due=time.time())
    jt = rt.catalog.job_type(type_name)
    policy = rt.catalog.policy(type_name, attempts=attempts, backoff=backoff)
    data_field, data_ref = _place_data(rt, job_id, payload.model_dump(mode="json"))
    ts = now_iso()
    return Job(
        job_id=job_id,
        type=type_name,
        queue=jt.queue,
        status=JobStatus.DELAYED if wait.seconds else JobStatus.QUEUED,
        max_attempts=policy.attempts,
        backoff=policy.backoff.as_dict(),
        timeout_s=policy.timeout_s,
        priority=jt.priority if priority is None else priority,
        data=data_field,
        data_ref=data_ref,
        run_at=wait.run_at_iso,
        idempotency_key=idempotency_key,
        webhook_url=webhook_url,
        created_at=ts,
        updated_at=ts,
    )


@dataclass(frozen=True)
class _Wait:
    """When a job may start. Up to 15 minutes is one SQS delay; longer waits hop: the message
    carries `not_before` and the worker re-sends it, 15 minutes at a time, until it is due."""

    seconds: float
    due: float

    @classmethod
    def of(cls, delay: float | timedelta | None, run_at: datetime | None) -> _Wait:
        if delay is not None and run_at is not None:
            raise ValueError("give delay or run_at, not both")
        now = time.time()
        if run_at is not None:
            if run_at.tzinfo is None:
                raise ValueError(f"run_at must be timezone-aware (e.g. datetime(..., tzinfo=UTC)), got {run_at}")
            seconds = run_at.timestamp() - now
            if seconds < -60:
                raise ValueError(f"run_at {run_at.isoformat()} is in the past")
            seconds = max(0.0, seconds)
        elif delay is None:
            seconds = 0.0
        else:
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            if seconds < 0:
                raise ValueError(f"delay must be >= 0 seconds, got {seconds}")
        if seconds > MAX_DELAY_S:
            raise ValueError(f"a delay of {seconds:.0f} s is more than the {MAX_DELAY_S} s (1 year) offload supports")
        return cls(seconds=seconds, due=now + seconds)

    @property
    def first_hop_s(self) -> int:
        return min(round(self.seconds), SQS_MAX_DELAY_S)

    @property
    def run_at_iso(self) -> str | None:
        return datetime.fromtimestamp(self.due, UTC).isoformat(timespec="seconds") if self.seconds else None

    def message(self, job_id: str, type_name: str) -> JobMessage:
        hops = self.seconds > SQS_MAX_DELAY_S
        return JobMessage(job_id=job_id, type=type_name, not_before=self.due if hops else None)


def _check_webhook_url(url: str) -> None:
    if len(url) > MAX_WEBHOOK_URL_CHARS:
        raise ValueError(f"webhook_url must be at most {MAX_WEBHOOK_URL_CHARS} characters, got {len(url)}")
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise ValueError(f"webhook_url must be an http(s) URL, got {url!r}")


def _place_data(rt: Runtime, job_id: str, data: Any) -> tuple[Any, str | None]:
    """Small data goes in the record; large data goes to S3 and the record keeps the key."""
    return _spill(rt, job_id, "data", data)


def place_result(rt: Runtime, job_id: str, result: Any) -> tuple[Any, str | None]:
    """A small result goes in the record; a large one goes to S3 and the record keeps the key
    (`result_ref`), so a completed record always holds its result or where to find it."""
    return _spill(rt, job_id, "result", result)


def _spill(rt: Runtime, job_id: str, name: str, value: Any) -> tuple[Any, str | None]:
    """(value, None) when its JSON fits `large_data_bytes`; else (None, s3 URI of jobs/<id>/<name>.json)."""
    body = to_json(value).encode()
    if len(body) <= rt.settings.large_data_bytes:
        return value, None
    key = f"jobs/{job_id}/{name}.json"
    rt.clients.s3.put_object(Bucket=rt.settings.payload_bucket, Key=key, Body=body, ContentType="application/json")
    return None, f"s3://{rt.settings.payload_bucket}/{key}"


def _message_may_be_lost(job: Job) -> bool:
    if job.status != JobStatus.QUEUED:
        return False
    created = datetime.fromisoformat(job.created_at).timestamp()
    return time.time() - created > RESEND_AFTER_S


def load_data(rt: Runtime, job: Job) -> Any:
    """The job's data, from the record or from S3 when it was too large for the record."""
    return job.data if job.data_ref is None else _read_spilled(rt, job.data_ref, "data")


def load_result(rt: Runtime, job: Job) -> Any:
    """The job's result, from the record or from S3 when it was too large for the record."""
    return job.result if job.result_ref is None else _read_spilled(rt, job.result_ref, "result")


def _read_spilled(rt: Runtime, ref: str, what: str) -> Any:
    bucket, _, key = ref.removeprefix("s3://").partition("/")
    try:
        body = rt.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except rt.clients.s3.exceptions.NoSuchKey:
        raise NonRetryableError(f"job {what} {ref} is missing from S3") from None
    return json.loads(body)


def _runtime(given: Runtime | None) -> Runtime:
    """`given`, or the process's default runtime: the one lazy lookup of it in offload.jobs."""
    if given is not None:
        return given
    from offload.runtime import default_runtime

    return default_runtime()
