"""Operator actions: get, list, cancel, retry one job, redrive a DLQ, queue statistics."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from offload.jobs.enqueue import load_result
from offload.jobs.handoff import announce
from offload.jobs.model import Job, JobMessage, JobStatus, check_job_id
from offload.jobs.queues import JOB_ID_ATTRIBUTE, DlqMessage

if TYPE_CHECKING:
    from offload.runtime import Runtime  # offload.runtime imports the job store: no import at run time

# How many DLQ messages `retry` looks through for one job before giving up the search.
_RETRY_SCAN_LIMIT = 1000


class AdminError(RuntimeError):
    """An operator action that cannot be done; the message says why."""


def get_job(rt: Runtime, job_id: str) -> Job:
    """The job, with a result kept in S3 read back into `result`, or an error that says it
    does not exist (or has expired). An id that can't be one is refused before any AWS call."""
    job = rt.store.get(check_job_id(job_id))
    if job is None:
        raise AdminError(f"no job {job_id!r}: it never existed, or it finished and has expired")
    if job.result_ref is not None:
        return job.model_copy(update={"result": load_result(rt, job)})
    return job


def list_jobs(rt: Runtime, status: JobStatus, queue: str | None = None, limit: int = 50) -> list[Job]:
    """Jobs in a status, newest first, from one queue or all of them."""
    queues = [queue] if queue else [q.name for q in rt.catalog.queues]
    jobs = [j for q in queues for j in rt.store.list_jobs(q, status, limit=limit)]
    jobs.sort(key=lambda j: j.created_at, reverse=True)
    return jobs[:limit]


def cancel(rt: Runtime, job_id: str) -> Job:
    """Cancel a waiting job now, stop the execution a running job was handed to (and end it cancelled),
    or ask a running one to stop at its next progress update."""
    job = get_job(rt, job_id)
    if job.status.terminal:
        raise AdminError(f"job {job_id} is already {job.status.value}; only waiting or running jobs can be cancelled")
    if job.status == JobStatus.ACTIVE and job.execution_arn:
        return _cancel_handed_off(rt, job)
    if job.status == JobStatus.ACTIVE:
        flagged = rt.store.request_cancel(job_id)
        if flagged is not None:
            return flagged
    else:
        cancelled = rt.store.cancel(job, allowed=[JobStatus.QUEUED, JobStatus.DELAYED])
        if cancelled is not None:
            return cancelled
    # The job moved while we looked: say where it is now.
    return cancel(rt, job_id) if not get_job(rt, job_id).status.terminal else get_job(rt, job_id)


def _cancel_handed_off(rt: Runtime, job: Job) -> Job:
    """Stop the job's execution, then end the job cancelled and announce it (the packs' on-finish
    hooks then cancel what the execution had started elsewhere, e.g. provider jobs)."""
    sfn = rt.clients.client("stepfunctions")
    with contextlib.suppress(sfn.exceptions.ExecutionDoesNotExist):  # already gone: the record is left to end
        sfn.stop_execution(executionArn=job.execution_arn, cause=f"offload jobs cancel {job.job_id}")
    cancelled = rt.store.cancel(job, allowed=[JobStatus.ACTIVE])
    if cancelled is None:
        return get_job(rt, job.job_id)  # it finished as we stopped it: say how
    announce(rt, cancelled)
    return cancelled


def retry(rt: Runtime, job_id: str) -> Job:
    """Run a failed job again from attempt 1, taking its message out of the DLQ if it is there."""
    job = get_job(rt, job_id)
    if job.status != JobStatus.FAILED:
        raise AdminError(f"job {job_id} is {job.status.value}; only failed jobs can be retried")
    if _from_bad_message(job):
        raise AdminError(
            f"job {job_id} records a message that could not be used ({job.error.reason if job.error else ''}); "
            f"fix the producer, or `offload queues redrive {job.queue}` to read the message again"
        )
    found = _take_from_dlq(rt, job)
    requeued = rt.store.requeue(job)
    if requeued is None:
        raise AdminError(f"job {job_id} changed while retrying it; check it with `offload jobs get {job_id}`")
    rt.queues.send(job.queue, JobMessage(job_id=job.job_id, type=job.type), priority=job.priority)
    if found is not None:
        rt.queues.delete_dead(job.queue, found.receipt_handle)
    return requeued


def _take_from_dlq(rt: Runtime, job: Job) -> DlqMessage | None:
    """Find the job's message in its DLQ; other messages read on the way are released."""
    seen: list[DlqMessage] = []
    match: DlqMessage | None = None
    try:
        while len(seen) < _RETRY_SCAN_LIMIT:
            batch = rt.queues.receive_dead(job.queue, hide_s=30)
            if not batch:
                break
            for message in batch:
                if match is None and _job_id_of(message) == job.job_id:
                    match = message
                else:
                    seen.append(message)
            if match is not None:
                break
    finally:
        for message in seen:
            rt.queues.release_dead(job.queue, message.receipt_handle)
    return match


@dataclass
class RedriveReport:
    """What a redrive did."""

    queue: str
    moved: list[str] = field(default_factory=list)
    resent_foreign: int = 0
    left: list[str] = field(default_factory=list)  # reasons for messages kept in the DLQ


def redrive(rt: Runtime, queue: str, *, limit: int | None = None) -> RedriveReport:
    """Move every DLQ message of a queue back to it; failed jobs restart from attempt 1.

    Done by receive-and-send (not StartMessageMoveTask) because each job record must be
    reset with its message, and a message that still can't be used stays in the DLQ.
    """
    rt.catalog.queue(queue)
    report = RedriveReport(queue=queue)
    kept: list[DlqMessage] = []
    try:
        while limit is None or len(report.moved) + report.resent_foreign < limit:
            # Never read more than the limit leaves: every message read is moved or kept.
            wanted = 10 if limit is None else min(10, limit - len(report.moved) - report.resent_foreign)
            batch = rt.queues.receive_dead(queue, max_messages=wanted, hide_s=60)
            if not batch:
                break
            for message in batch:
                if _redrive_one(rt, queue, message, report):
                    rt.queues.delete_dead(queue, message.receipt_handle)
                else:
                    kept.append(message)
    finally:
        for message in kept:
            rt.queues.release_dead(queue, message.receipt_handle)
    return report


def _redrive_one(rt: Runtime, queue: str, message: DlqMessage, report: RedriveReport) -> bool:
    job_id = _job_id_of(message)
    job = rt.store.get(job_id) if job_id else None
    if job is not None and _from_bad_message(job):
        job = None  # its record holds no usable data: re-read the message itself below
    if job is not None and job.type in {t.name for t in rt.catalog.job_types}:
        if job.status == JobStatus.FAILED:
            if rt.store.requeue(job) is None:
                report.left.append(f"{job.job_id}: changed during redrive")
                return False
        elif job.status != JobStatus.QUEUED:
            # Finished or running again already: the DLQ copy is stale, drop it.
            report.moved.append(job.job_id)
            return True
        rt.queues.send(queue, JobMessage(job_id=job.job_id, type=job.type), priority=job.priority)
        report.moved.append(job.job_id)
        return True
    body = _parse(message.body)
    if body is not None and "type" in body and "job_id" not in body:
        rt.queues.send_raw(queue, message.body, job_id=job_id)  # the worker keeps its record, no new one
        report.resent_foreign += 1
        return True
    reason = message.attributes.get("offload-reason", "unusable message")
    report.left.append(f"message {message.message_id}: {reason}")
    return False


def _from_bad_message(job: Job) -> bool:
    """Jobs the worker recorded for an unusable message: the message, not the record, is the input."""
    return job.error is not None and job.error.kind == "bad_message"


def _job_id_of(message: DlqMessage) -> str | None:
    if JOB_ID_ATTRIBUTE in message.attributes:
        return message.attributes[JOB_ID_ATTRIBUTE]
    body = _parse(message.body)
    value = body.get("job_id") if body else None
    return value if isinstance(value, str) else None


def _parse(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


STAT_STATUSES = (
    JobStatus.QUEUED,
    JobStatus.ACTIVE,
    JobStatus.DELAYED,
    JobStatus.FAILED,
    JobStatus.COMPLETED,
    JobStatus.CANCELLED,
)


def queue_stats(rt: Runtime) -> list[dict[str, Any]]:
    """Per queue: jobs by status (from the table) and message counts (from SQS)."""
    rows = []
    for spec in rt.catalog.queues:
        if spec.name not in rt.settings.queues:
            continue
        counts = {s.value: rt.store.count(spec.name, s) for s in STAT_STATUSES}
        rows.append(
            {
                "queue": spec.name,
                "waiting": counts["queued"],
                "active": counts["active"],
                "delayed": counts["delayed"],
                "failed": counts["failed"],
                "completed": counts["completed"],
                "cancelled": counts["cancelled"],
                "messages": rt.queues.depth(spec.name),
                "concurrency": spec.concurrency,
            }
        )
    return rows
