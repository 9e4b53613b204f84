"""Operator actions: get, list, cancel, retry one job, redrive a DLQ, queue statistics."""

from __future__ import annotations

import base64
import binascii
import contextlib
import difflib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from offload.catalog import Schedule
from offload.jobs.enqueue import load_result
from offload.jobs.handoff import announce
from offload.jobs.model import (
    JOB_ID_PATTERN,
    ForeignMessage,
    Job,
    JobMessage,
    JobStatus,
    check_job_id,
    idempotent_job_id,
    now_iso,
)
from offload.jobs.queues import JOB_ID_ATTRIBUTE, DlqMessage

if TYPE_CHECKING:
    from offload.runtime import Runtime  # offload.runtime imports the job store: no import at run time

# How many DLQ messages `retry` looks through for one job before giving up the search.
_RETRY_SCAN_LIMIT = 1000


class AdminError(RuntimeError):
    """An operator action that cannot be done; the message says why."""


class JobNotFoundError(AdminError):
    """The job never existed, or it finished and has expired."""


def get_job(rt: Runtime, job_id: str) -> Job:
    """The job, with a result kept in S3 read back into `result`, or an error that says it
    does not exist (or has expired). An id that can't be one is refused before any AWS call."""
    job = rt.store.get(check_job_id(job_id))
    if job is None:
        raise JobNotFoundError(f"no job {job_id!r}: it never existed, or it finished and has expired")
    if job.result_ref is not None:
        return job.model_copy(update={"result": load_result(rt, job)})
    return job


def list_jobs(rt: Runtime, status: JobStatus, queue: str | None = None, limit: int = 50) -> list[Job]:
    """Jobs in a status, newest first, from one queue or all of them."""
    queues = [queue] if queue else [q.name for q in rt.catalog.queues]
    jobs = [j for q in queues for j in rt.store.list_jobs(q, status, limit=limit)]
    jobs.sort(key=lambda j: j.created_at, reverse=True)
    return jobs[:limit]


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing, and the cursor of the next one (None: this is the last)."""

    jobs: list[Job]
    cursor: str | None


def page_jobs(
    rt: Runtime,
    *,
    statuses: list[JobStatus] | None = None,
    queue: str | None = None,
    type_name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    since: str | None = None,
) -> JobPage:
    """Jobs newest first, in pages: of some statuses (default all), one queue (default all), one
    type (default all), created at or after `since` (ISO 8601; default any time). Pass the page's
    `cursor` back to get the next one."""
    if type_name is not None:
        type_queue = rt.catalog.job_type(type_name).queue
        if queue is not None and queue != type_queue:
            return JobPage([], None)
        queue = type_queue
    queues = [rt.catalog.queue(queue).name] if queue else [q.name for q in rt.catalog.queues]
    before = _decode_cursor(cursor) if cursor else None
    jobs = [
        job
        for q in queues
        for s in statuses or list(JobStatus)
        for job in rt.store.list_jobs(q, s, limit=limit, type_name=type_name, before=before, since=since, paged=True)
    ]
    jobs.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
    page = jobs[:limit]
    more = len(jobs) > limit
    return JobPage(page, _encode_cursor(page[-1]) if more and page else None)


def find_jobs(rt: Runtime, text: str) -> list[Job]:
    """The jobs a search box means: the job of this id, and the job each type would give this
    idempotency key (`enqueue(..., idempotency_key=text)`), newest first."""
    text = text.strip()
    if not text:
        return []
    ids = [idempotent_job_id(t.name, text) for t in rt.catalog.job_types]
    if JOB_ID_PATTERN.fullmatch(text):
        ids.insert(0, text)
    jobs = rt.store.get_many(ids)
    jobs.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
    return jobs


class InvalidCursorError(ValueError):
    """A cursor this API did not hand out."""


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at, job.job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidCursorError(
            f"cursor {cursor[:40]!r} is not one this API returned: pass the `cursor` of the previous page, "
            "or leave it out for the first page"
        ) from None
    return str(created_at), str(job_id)


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


# A queue whose oldest waiting work or failures pass these is reported "warning" by queue_overview.
WAITING_WARNING = 1000
FAILED_WARNING = 100


def queue_overview(rt: Runtime, *, latest_failed: int = 5) -> dict[str, Any]:
    """Every deployed queue's counts (waiting, active, completed, failed, delayed, total), its
    health (status ok | warning | critical, and the issues behind it) and its latest failed jobs."""
    queues = {}
    for row in queue_stats(rt):
        total = sum(row[k] for k in ("waiting", "active", "completed", "failed", "delayed", "cancelled"))
        issues = []
        if row["messages"]["dlq"]:
            issues.append(
                f"{row['messages']['dlq']} messages in the dead-letter queue: "
                f"inspect them, then `offload queues redrive {row['queue']}`"
            )
        if row["failed"] >= FAILED_WARNING:
            issues.append(f"{row['failed']} failed jobs")
        if row["waiting"] >= WAITING_WARNING:
            issues.append(f"{row['waiting']} jobs waiting with concurrency {row['concurrency']}")
        status = "critical" if row["messages"]["dlq"] else "warning" if issues else "ok"
        failed = rt.store.list_jobs(row["queue"], JobStatus.FAILED, limit=latest_failed)
        queues[row["queue"]] = {
            **{k: row[k] for k in ("waiting", "active", "completed", "failed", "delayed", "cancelled")},
            "total": total,
            "messages": row["messages"],
            "health": {"status": status, "issues": issues},
            "latestFailed": [
                {
                    "jobId": j.job_id,
                    "type": j.type,
                    "failedAt": j.finished_at,
                    "step": j.error.step if j.error else None,
                    "reason": j.error.reason if j.error else None,
                }
                for j in failed
            ],
        }
    return {"queues": queues, "timestamp": now_iso()}


@dataclass
class PauseReport:
    """The event source mappings a pause or resume changed."""

    queue: str
    enabled: bool
    mappings: list[str] = field(default_factory=list)  # UUIDs


def pause_queue(rt: Runtime, queue: str) -> PauseReport:
    """Stop delivering a queue's messages (its lanes' too) to its worker: the event source mappings
    are disabled, messages wait in SQS (their retention applies), nothing is lost."""
    return _set_delivery(rt, queue, enabled=False)


def resume_queue(rt: Runtime, queue: str) -> PauseReport:
    """Deliver a paused queue's messages again: its event source mappings are enabled."""
    return _set_delivery(rt, queue, enabled=True)


def _set_delivery(rt: Runtime, queue: str, *, enabled: bool) -> PauseReport:
    rt.catalog.queue(queue)
    urls = rt.settings.queue_urls(queue)
    sqs = rt.clients.sqs
    lam = rt.clients.client("lambda")
    report = PauseReport(queue=queue, enabled=enabled)
    for url in (urls.url, *urls.lanes.values()):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for mapping in _mappings_of(lam, arn):
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled)
            report.mappings.append(mapping["UUID"])
    if not report.mappings:
        raise AdminError(
            f"queue {queue!r} has no event source mappings to {'enable' if enabled else 'disable'}: "
            "is its worker deployed (`offload local up` on the local cloud)?"
        )
    return report


def _mappings_of(lam: Any, arn: str) -> list[dict[str, Any]]:
    mappings: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"EventSourceArn": arn}
    while True:
        page = lam.list_event_source_mappings(**kwargs)
        mappings.extend(page.get("EventSourceMappings", []))
        if not page.get("NextMarker"):
            return mappings
        kwargs["Marker"] = page["NextMarker"]


# Jobs finished in the last `minutes` are counted among those created up to this much earlier,
# so a job that waited longer than that before it finished is left out of the chart.
_THROUGHPUT_LOOKBACK = timedelta(hours=1)


def throughput(rt: Runtime, queue: str, *, minutes: int = 60, now: datetime | None = None) -> list[int]:
    """Jobs of a queue that finished (completed or failed) in each of the last `minutes` minutes, oldest first."""
    rt.catalog.queue(queue)
    end = now or datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    since = (start - _THROUGHPUT_LOOKBACK).isoformat(timespec="milliseconds")
    buckets = [0] * minutes
    for status in (JobStatus.COMPLETED, JobStatus.FAILED):
        for stamp in rt.store.finished_since(queue, status, since):
            finished = datetime.fromisoformat(stamp)
            if start <= finished < end:
                buckets[min(int((finished - start).total_seconds() // 60), minutes - 1)] += 1
    return buckets


def queue_paused(rt: Runtime, queue: str) -> bool | None:
    """True when every event source mapping of the queue (and its lanes) is disabled
    (`offload queues pause`), False when one delivers, None when it has none."""
    urls = rt.settings.queue_urls(queue)
    sqs = rt.clients.sqs
    lam = rt.clients.client("lambda")
    states = []
    for url in (urls.url, *urls.lanes.values()):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        states += [m.get("State", "Enabled") for m in _mappings_of(lam, arn)]
    if not states:
        return None
    return all(state in ("Disabled", "Disabling") for state in states)


@dataclass(frozen=True)
class DeadLetter:
    """A DLQ message as an operator reads it: why it is there and which job it belongs to."""

    queue: str
    message_id: str
    job_id: str | None
    type: str | None
    reason: str
    body: str


def peek_dlq(rt: Runtime, queue: str, *, limit: int = 50) -> list[DeadLetter]:
    """Up to `limit` messages of a queue's DLQ, left in it: each is hidden while the DLQ is read
    (so none is listed twice), then made visible again."""
    rt.catalog.queue(queue)
    seen: list[DlqMessage] = []
    try:
        while len(seen) < limit:
            batch = rt.queues.receive_dead(queue, max_messages=min(10, limit - len(seen)), hide_s=30)
            if not batch:
                break
            seen.extend(batch)
    finally:
        for message in seen:
            rt.queues.release_dead(queue, message.receipt_handle)
    letters = []
    for message in seen:
        body = _parse(message.body) or {}
        kind = body.get("type")
        letters.append(
            DeadLetter(
                queue=queue,
                message_id=message.message_id,
                job_id=_job_id_of(message),
                type=kind if isinstance(kind, str) else None,
                reason=message.attributes.get("offload-reason", "no reason recorded (the redrive policy moved it)"),
                body=message.body,
            )
        )
    return letters


def redrive_message(rt: Runtime, queue: str, message_id: str) -> RedriveReport:
    """Move one DLQ message back to its queue, as `redrive` does for all of them."""
    rt.catalog.queue(queue)
    report = RedriveReport(queue=queue)
    seen: list[DlqMessage] = []
    found = False
    try:
        while not found and len(seen) < _RETRY_SCAN_LIMIT:
            batch = rt.queues.receive_dead(queue, hide_s=30)
            if not batch:
                break
            for message in batch:
                if not found and message.message_id == message_id:
                    found = True
                    if _redrive_one(rt, queue, message, report):
                        rt.queues.delete_dead(queue, message.receipt_handle)
                    else:
                        seen.append(message)
                else:
                    seen.append(message)
    finally:
        for message in seen:
            rt.queues.release_dead(queue, message.receipt_handle)
    if not found:
        raise AdminError(
            f"message {message_id} is not in the dead-letter queue of {queue!r} (already redriven or retried?); "
            f"list what is there with `offload queues stats` or the console's DLQ page"
        )
    return report


@dataclass(frozen=True)
class ScheduleRow:
    """A catalog schedule as operators see it: in words, when it fires next, whether its rule is on."""

    schedule: Schedule
    queue: str
    words: str
    next: str  # the next fire time, ISO 8601 UTC
    enabled: bool | None  # its EventBridge rule's state; None: not read, or no rule deployed for it


def schedule_rows(rt: Runtime, *, now: float | None = None, with_state: bool = True) -> list[ScheduleRow]:
    """Every catalog schedule; `with_state` reads the rules' states from EventBridge (one ListRules)."""
    from offload.cron import describe, next_fire

    at = time.time() if now is None else now
    states = _rule_states(rt) if with_state else {}
    return [
        ScheduleRow(
            schedule=s,
            queue=rt.catalog.job_type(s.job_type).queue,
            words=describe(s.expression),
            next=datetime.fromtimestamp(next_fire(s.expression, at), UTC).isoformat(timespec="seconds"),
            enabled=next((state for rule, state in states.items() if rule.endswith(f"-{s.name}")), None),
        )
        for s in rt.catalog.schedules
    ]


def _rule_states(rt: Runtime) -> dict[str, bool]:
    """Rule name -> enabled, for the default bus's rules (where the stack's schedules are)."""
    events = rt.clients.client("events")
    states: dict[str, bool] = {}
    kwargs: dict[str, Any] = {}
    while True:
        page = events.list_rules(**kwargs)
        states |= {r["Name"]: r.get("State") == "ENABLED" for r in page.get("Rules", []) if r.get("ScheduleExpression")}
        if not page.get("NextToken"):
            return states
        kwargs["NextToken"] = page["NextToken"]


def run_schedule(rt: Runtime, name: str) -> str:
    """Enqueue a schedule's job now the way its rule's target does (the `{type, data}` body sent to
    the type's queue, which the worker adopts); returns the job id it will have (`sqs-<message id>`)."""
    schedules = {s.name: s for s in rt.catalog.schedules}
    if name not in schedules:
        close = difflib.get_close_matches(name, list(schedules), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise AdminError(
            f"no schedule {name!r}; schedules: {', '.join(sorted(schedules)) or 'none'} "
            f"(see `offload schedules list`){hint}"
        )
    schedule = schedules[name]
    body = ForeignMessage(type=schedule.job_type, data=schedule.data).model_dump_json()
    return f"sqs-{rt.queues.send_raw(rt.catalog.job_type(schedule.job_type).queue, body)}"
