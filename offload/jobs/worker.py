"""The worker: turns one SQS batch into job runs, retries, dead letters and events.

Per record: parse the body (or adopt a foreign message), start the job with a
conditional write (which refuses finished, cancelled, leased and exhausted jobs), run
its processor, and record the outcome. A retryable failure keeps the message with its
visibility set to the backoff delay; exhausted or non-retryable failures mark the job
`failed`, copy the message to the DLQ, alert, and acknowledge it, so nothing loops.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, ValidationError

from offload.catalog import SQS_MAX_DELAY_S, SQS_MAX_VISIBILITY_S, UnknownJobTypeError, import_object
from offload.errors import InvocationEndingError, JobCancelledError, NonRetryableError, RateLimitedError
from offload.jobs.batch import SQSRecord, process_partial_response
from offload.jobs.context import JobContext
from offload.jobs.enqueue import load_data, new_job_record, place_result
from offload.jobs.handoff import Announcer, Handoff
from offload.jobs.model import (
    JOB_ID_PATTERN,
    ForeignMessage,
    Job,
    JobErrorInfo,
    JobMessage,
    JobStatus,
    now_iso,
    to_json,
)
from offload.jobs.queues import JOB_ID_ATTRIBUTE
from offload.jobs.registry import PayloadError, describe_validation_error, load_processor, validate_payload
from offload.observability import NAMESPACE, logger, metrics_enabled

if TYPE_CHECKING:
    from offload.runtime import Runtime  # offload.runtime imports the job store: no import at run time

_LOG_KEYS = ["job_id", "job_type", "queue", "attempt"]
# A started job's lease outlives the function timeout by this much, so a redelivery after
# a crash or timeout can start it again, and a duplicate during a live run cannot.
_LEASE_MARGIN_S = 5.0


class RetryLater(Exception):
    """Raised to the batch loop so the record is reported as a batch item failure."""


@dataclass(frozen=True)
class _Target:
    """What a message names: the job, its type, and the queue its status is indexed under."""

    job_id: str
    type: str
    queue: str


@dataclass
class _Batch:
    """What one invocation shares across its records."""

    announcer: Announcer
    deadline: float
    stopped_before: str | None = None  # the message id of the job whose last run was stopped, run here last
    released: set[str] = field(default_factory=set)  # the other such jobs, handed back to run elsewhere
    handled: list[SQSRecord] = field(default_factory=list)  # records acknowledged so far, in order
    deleted: int = 0  # how many of `handled` the worker has deleted itself


class Worker:
    """Processes SQS batches for one catalog queue."""

    def __init__(self, runtime: Runtime, queue: str) -> None:
        self.rt = runtime
        self.queue = queue
        self.spec = runtime.catalog.queue(queue)
        self._type_names = {t.name for t in runtime.catalog.job_types}
        self._kinds: list[Any] | None = None
        self._announcer = Announcer(runtime)  # the hooks are imported once per worker

    # -- entry point -------------------------------------------------------------------
    def handle_batch(self, event: dict[str, Any], lambda_context: Any = None) -> Any:
        """Process an SQS event; returns the partial batch response (`batchItemFailures`)."""
        remaining = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context else self.spec.timeout_s
        batch = _Batch(announcer=self._announcer, deadline=time.time() + remaining)
        event = self._stopped_last(event, batch)
        try:
            # Powertools' BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False) semantics,
            # without the ~100 ms its import adds to every cold start (offload/jobs/batch.py).
            return process_partial_response(event, lambda record: self._handle(record, batch))
        finally:
            batch.announcer.flush()

    def _handle(self, record: SQSRecord, batch: _Batch) -> None:
        if record.message_id in batch.released:
            logger.info("job stopped its last invocation; handed back to run apart from another such job")
            self.rt.queues.retry_later(self.rt.queues.url_for_arn(record.event_source_arn), record.receipt_handle, 1)
            raise RetryLater("another job that stopped its last invocation runs in this one; this one runs apart")
        if record.message_id == batch.stopped_before:
            self._settle(batch)
        self.process_record(record, batch)
        batch.handled.append(record)

    def process_record(self, record: SQSRecord, batch: _Batch) -> None:
        """Handle one message; returning acknowledges it, raising RetryLater keeps it."""
        target = self._target_of(record)
        if target is None:
            return
        logger.thread_safe_append_keys(job_id=target.job_id, job_type=target.type, queue=target.queue)
        try:
            self._start_and_run(target, record, batch)
        except RetryLater:
            raise
        except Exception:
            logger.exception("unexpected error handling the message; it will be redelivered")
            raise
        finally:
            logger.thread_safe_remove_keys(_LOG_KEYS)

    # -- a batch holding a job that stopped its last invocation ---------------------------
    def _stopped_last(self, event: Any, batch: _Batch) -> Any:
        """Put the jobs whose last run was stopped (the function's timeout, a crash) at the end of the batch.

        Such a job may stop this invocation too, and a stopped invocation deletes nothing: every batch-mate
        would come back, again and again, until SQS's maxReceiveCount moved its message to the DLQ with its
        record perhaps never ended. A job counts as stopped before when its message was received before and
        its record is still `active` with the lease run out (one BatchGetItem, only for batches holding
        redeliveries). The others run first, redeliveries among them first, and `_handle` settles them before
        the stopped one starts. When several are in the batch, the one received most often runs and the others
        are handed back for a second (their visibility set to 1 s): together they would stop each other."""
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            return event  # process_partial_response says what is wrong with it
        again: dict[str, str] = {}
        for raw in records:
            if _message_id(raw) is not None:
                record = SQSRecord(raw)
                job_id = _job_id_in(record) if _receive_count(record) > 1 else None
                if job_id is not None:
                    again[record.message_id] = job_id
        if not again:
            return event
        try:
            jobs = {job.job_id: job for job in self.rt.store.get_many(list(again.values()))}
        except Exception:
            logger.warning("could not read the redelivered jobs; the batch runs in its own order", exc_info=True)
            return event
        now = time.time()
        stopped = []
        for raw in records:
            job = jobs.get(again.get(_message_id(raw) or "", ""))
            if job is not None and job.status == JobStatus.ACTIVE and (job.lease_until or 0) < now:
                stopped.append(SQSRecord(raw))
        if stopped:
            first = max(stopped, key=_receive_count)
            batch.stopped_before = first.message_id
            batch.released = {r.message_id for r in stopped if r is not first}

        def rank(raw: Any) -> int:
            message_id = _message_id(raw)
            if message_id == batch.stopped_before:
                return 3
            return 2 if message_id in batch.released else 0 if message_id in again else 1

        return {**event, "Records": sorted(records, key=rank)}

    def _settle(self, batch: _Batch) -> None:
        """Before a job that stopped its last invocation: send the buffered events and delete the messages
        handled so far now, as the event source would after the batch, so that stopping again costs only it."""
        logger.info("this job's last run was stopped (timeout or crash); settling its batch-mates before it runs")
        batch.announcer.flush()
        by_queue: dict[str, list[str]] = {}
        for record in batch.handled[batch.deleted :]:
            by_queue.setdefault(record.event_source_arn, []).append(record.receipt_handle)
        batch.deleted = len(batch.handled)
        for arn, handles in by_queue.items():
            try:
                refused = self.rt.queues.acknowledge(self.rt.queues.url_for_arn(arn), handles)
            except Exception:
                logger.warning("could not delete the settled messages; they will be handled again", exc_info=True)
                continue
            if refused:
                logger.warning("SQS refused to delete settled messages; they will be handled again", refused=refused)

    # -- parsing -----------------------------------------------------------------------
    def _target_of(self, record: SQSRecord) -> _Target | None:
        """The job this message points at (creating its record for foreign messages), or None
        when the message was unusable and has been dead-lettered. No read: starting the job
        returns its record, and a refused start returns it as it stood."""
        body = record.body
        try:
            raw = json.loads(body)
        except json.JSONDecodeError as exc:
            return self._reject(record, f"message body is not JSON ({exc.msg} at char {exc.pos}): {body[:120]!r}")
        if not isinstance(raw, dict):
            return self._reject(record, f"message body must be a JSON object, got {type(raw).__name__}")
        for kind in self._message_kinds():
            if kind(raw, record, self):
                return None
        if "job_id" in raw:
            try:
                msg = JobMessage.model_validate(raw)
            except ValidationError as exc:
                return self._reject(record, describe_validation_error("job message", exc))
            if msg.not_before is not None and msg.not_before - time.time() > 1:
                self._hop(msg, record)
                return None
            known = msg.type in self._type_names
            queue = self.rt.catalog.job_type(msg.type).queue if known else self.queue
            return _Target(job_id=msg.job_id, type=msg.type, queue=queue)
        if "type" in raw:
            return self._adopt(record, raw)
        return self._reject(record, "message body has neither 'job_id' (an offload job) nor 'type' (a new job)")

    def _adopt(self, record: SQSRecord, raw: dict[str, Any]) -> _Target | None:
        """A {type, data} body sent straight to the queue becomes a job whose id is the message id;
        a redriven one keeps the id of the record it already has (its `offload-job-id` attribute)."""
        job_id = _redriven_job_id(record) or f"sqs-{record.message_id}"
        try:
            foreign = ForeignMessage.model_validate(raw)
            payload = validate_payload(self.rt.catalog, foreign.type, foreign.data)
        except (ValidationError, UnknownJobTypeError, PayloadError) as exc:
            reason = describe_validation_error("message", exc) if isinstance(exc, ValidationError) else str(exc)
            return self._reject(record, reason, job_id=job_id, type_name=str(raw.get("type")))
        fresh = new_job_record(self.rt, job_id, foreign.type, payload)
        stored, created = self.rt.store.create(fresh)
        if not created and stored.status == JobStatus.FAILED and stored.error and stored.error.kind == "bad_message":
            # Redriven after a fix to the producer or the catalog: the rejected record becomes the job.
            replaced = self.rt.store.replace_failed(fresh.model_copy(update={"history": stored.history}))
            stored = replaced or stored
        return _Target(job_id=stored.job_id, type=stored.type, queue=stored.queue)

    def _hop(self, msg: JobMessage, record: SQSRecord) -> None:
        """A long delay: send the message on for up to another 15 minutes; the job stays `delayed`."""
        remaining = msg.not_before - time.time() if msg.not_before else 0
        delay = min(math.ceil(remaining), SQS_MAX_DELAY_S)
        self.rt.queues.send_to(self.rt.queues.url_for_arn(record.event_source_arn), msg, delay_s=delay)
        logger.info("delayed job not due yet; message sent on", job_id=msg.job_id, due_in_s=round(remaining))

    def _reject(
        self, record: SQSRecord, reason: str, *, job_id: str | None = None, type_name: str = "(unreadable)"
    ) -> _Target | None:
        """Record a failed job for an unusable message, dead-letter the message, acknowledge it.

        Returns None (there is no job to run), so callers can `return self._reject(...)`."""
        job_id = job_id or f"msg-{record.message_id}"
        logger.error("rejected message", reason=reason, message_id=record.message_id, job_id=job_id)
        existing = self.rt.store.get(job_id)
        if existing is None:
            placeholder = _placeholder_record(self.rt, job_id, type_name, self.queue)
            existing, _ = self.rt.store.create(placeholder)
        error = JobErrorInfo(step="parse", reason=reason, kind="bad_message", at=now_iso())
        failed = self.rt.store.fail(existing, error) if not existing.status.terminal else None
        self.rt.queues.dead_letter(
            self.queue, record.body, reason=reason, job_id=job_id, source_message_id=record.message_id
        )
        if failed is not None:
            self._count("JobsFailed", failed)
        return None

    # -- running -----------------------------------------------------------------------
    def _start_and_run(self, target: _Target, record: SQSRecord, batch: _Batch) -> None:
        lease_s = self.spec.timeout_s + _LEASE_MARGIN_S
        outcome = self.rt.store.start(target.job_id, target.queue, lease_s=lease_s)
        if not outcome.started:
            if outcome.job is None:
                reason = f"no job record {target.job_id!r}: it expired or was never created"
                self._reject(record, reason, job_id=target.job_id)
            else:
                self._not_started(outcome.job, record, batch)
            return
        assert outcome.job is not None
        job = outcome.job
        logger.thread_safe_append_keys(attempt=job.attempts)
        logger.info("job started", max_attempts=job.max_attempts)
        began = time.time()
        own = began + min(job.timeout_s, self.spec.timeout_s - 1)  # what a fresh invocation would give it
        ctx = JobContext(job, self.rt, deadline=min(own, batch.deadline - 1), cut_short=batch.deadline - 1 < own - 1)
        try:
            if self.spec.rate_limit is not None:
                ctx.rate_limit(f"queue:{job.queue}", self.spec.rate_limit)
            if job.type not in self._type_names:
                raise NonRetryableError(f"job type {job.type!r} is not in this deployment's catalog")
            processor = load_processor(self.rt.catalog, job.type)
            payload = validate_payload(self.rt.catalog, job.type, load_data(self.rt, job))
            result = processor.func(payload, ctx)
            if isinstance(result, Handoff):
                self._hand_off(job, result)
                return
            result, result_ref = place_result(self.rt, job.job_id, _json_result(result))
        except JobCancelledError:
            self._finish_cancelled(job, batch)
        except RateLimitedError as exc:
            if exc.__cause__ is not None:  # the limiter itself could not be asked
                logger.warning("rate limiter unavailable; job deferred", reason=str(exc))
                self._count("RateLimiterUnavailable", job, per_type=False)  # the queue's alarm watches this
            self._defer(job, exc.retry_after_s)
        except InvocationEndingError as exc:
            self._defer(job, 1, why=str(exc))
        except NonRetryableError as exc:
            step = "validate" if isinstance(exc, PayloadError) else "process"
            self._fail(job, _error(job, step, exc, kind="permanent"), record, batch)
        except Exception as exc:
            self._attempt_failed(job, _error(job, "process", exc, kind="retryable"), record, batch)
        else:
            self._complete(job, result, result_ref, began, batch)

    def _not_started(self, job: Job, record: SQSRecord, batch: _Batch) -> None:
        """The conditional start was refused: say why and do the one right thing."""
        if job.status.terminal:
            if _receive_count(record) > 1:
                # Received before and never deleted: the invocation that finished it may have stopped (a timeout,
                # a crash) between the record's write and its announcement. Announce again: the webhook's
                # idempotency key keeps it to one delivery; events and alerts are at least once.
                logger.info("redelivery of a finished job; announcing it again", status=job.status.value)
                if job.status == JobStatus.FAILED:
                    batch.announcer.alert(job)
                self._announce(job, batch)
            else:
                logger.info("duplicate delivery of a finished job; skipped", status=job.status.value)
        elif job.cancel_requested:
            cancelled = self.rt.store.cancel(job)
            if cancelled is not None:
                self._announce(cancelled, batch)
        elif job.status == JobStatus.ACTIVE and (job.lease_until or 0) >= time.time():
            logger.info("job is running in another invocation; this delivery is a duplicate")
        elif job.attempts >= job.max_attempts:
            reason = (
                f"the worker stopped (timeout or crash) during the last of {job.max_attempts} attempts; "
                "see the function's logs for this job id"
            )
            self._fail(job, JobErrorInfo(step="process", reason=reason, kind="crashed", at=now_iso()), record, batch)
        else:
            logger.warning("job could not be started; it will be redelivered", status=job.status.value)
            raise RetryLater(f"job {job.job_id} in state {job.status.value} could not be started")

    def _complete(self, job: Job, result: Any, result_ref: str | None, began: float, batch: _Batch) -> None:
        done = self.rt.store.complete(job, result, result_ref)
        if done is None:
            logger.warning("job finished but its record had moved on (cancelled or finished elsewhere)")
            return
        duration_ms = (time.time() - began) * 1000
        logger.info("job completed", duration_ms=round(duration_ms, 1))
        self._count("JobsCompleted", done)
        self._count("JobDuration", done, value=duration_ms, unit=MetricUnit.Milliseconds)
        self._announce(done, batch)

    def _hand_off(self, job: Job, handoff: Handoff) -> None:
        """The job goes on in a state machine execution, which finishes it (offload.jobs.handoff)."""
        if self.rt.store.hand_off(job, handoff.execution_arn, lease_s=handoff.lease_s) is None:
            logger.warning("job moved on while its execution started (cancelled?); stopping the execution")
            self.rt.clients.client("stepfunctions").stop_execution(
                executionArn=handoff.execution_arn, cause="the job was cancelled or finished as it started"
            )
            return
        logger.info("job handed off to a state machine execution", execution_arn=handoff.execution_arn)
        self._count("JobsHandedOff", job)

    def _attempt_failed(self, job: Job, error: JobErrorInfo, record: SQSRecord, batch: _Batch) -> None:
        if job.attempts >= job.max_attempts:
            # Say the attempt once, even when the processor's message already ends with it.
            reason = re.sub(rf"\s*\(attempt {job.attempts}\)$", "", error.reason)
            error.reason = f"{reason} (attempt {job.attempts} of {job.max_attempts}; no attempts left)"
            self._fail(job, error, record, batch)
            return
        delay = min(math.ceil(job.backoff_policy.delay_for(job.attempts)), SQS_MAX_VISIBILITY_S)
        logger.warning("job attempt failed; will retry", reason=error.reason, retry_in_s=delay)
        self.rt.store.wait_retry(job, error)
        self.rt.queues.retry_later(self.rt.queues.url_for_arn(record.event_source_arn), record.receipt_handle, delay)
        self._count("JobsRetried", job)
        raise RetryLater(error.reason)

    def _fail(self, job: Job, error: JobErrorInfo, record: SQSRecord, batch: _Batch) -> None:
        failed = self.rt.store.fail(job, error)
        if failed is None:
            logger.info("job already finished elsewhere; not failing it again")
            return
        logger.error("job failed", step=error.step, reason=error.reason, kind=error.kind)
        self.rt.queues.dead_letter(
            self.queue, record.body, reason=error.reason, job_id=job.job_id, source_message_id=record.message_id
        )
        self._count("JobsFailed", failed)
        batch.announcer.alert(failed)
        self._announce(failed, batch)

    def _finish_cancelled(self, job: Job, batch: _Batch) -> None:
        cancelled = self.rt.store.cancel(job, allowed=[JobStatus.ACTIVE])
        logger.info("job cancelled while running")
        if cancelled is not None:
            self._count("JobsCancelled", cancelled)
            self._announce(cancelled, batch)

    def _defer(self, job: Job, retry_after_s: float, *, why: str = "rate limited") -> None:
        """Rate limited, or out of invocation time: give the attempt back and re-send the message for later."""
        delay = min(max(1, math.ceil(retry_after_s)), SQS_MAX_DELAY_S)
        self.rt.store.defer(job)
        self.rt.queues.send(
            job.queue, JobMessage(job_id=job.job_id, type=job.type), delay_s=delay, priority=job.priority
        )
        logger.info("job deferred; its attempt given back", reason=why, retry_in_s=delay)
        self._count("JobsDeferred", job)

    def _announce(self, job: Job, batch: _Batch) -> None:
        """The terminal event, and the packs' on-finish hooks (the core pack's webhook, ...)."""
        batch.announcer.announce(job)

    def _message_kinds(self) -> list[Any]:
        """The packs' message kinds, imported on first use."""
        if self._kinds is None:
            self._kinds = [import_object(path, "message kind") for path in self.rt.catalog.message_kinds]
        return self._kinds

    def _count(
        self, name: str, job: Job, *, value: float = 1, unit: MetricUnit = MetricUnit.Count, per_type: bool = True
    ) -> None:
        if not metrics_enabled():
            return
        with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="queue", value=job.queue)
            if per_type:
                metric.add_dimension(name="job_type", value=job.type)


def _json_result(result: Any) -> Any:
    """The processor's return value as JSON data; a value that can't be stored fails the job."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    try:
        to_json(result)
    except TypeError as exc:
        raise NonRetryableError(f"the processor's result can't be stored as JSON: {exc}") from None
    return result


def _error(job: Job, step: str, exc: BaseException, *, kind: str) -> JobErrorInfo:
    reason = str(exc) or type(exc).__name__
    if type(exc).__name__ not in reason:
        reason = f"{type(exc).__name__}: {reason}"
    return JobErrorInfo(step=step, reason=reason, kind=kind, attempt=job.attempts, at=now_iso())


def _receive_count(record: SQSRecord) -> int:
    """How many times SQS has handed this message out, this delivery included (1 when not said)."""
    try:
        return int(record.raw_event.get("attributes", {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def _message_id(raw: Any) -> str | None:
    """A raw event record's message id, None for anything malformed (process_partial_response reports those)."""
    value = raw.get("messageId") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _job_id_in(record: SQSRecord) -> str | None:
    """The job a message names, read without side effects (None for bodies a message kind or the parser handles)."""
    try:
        raw = json.loads(record.body)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("job_id"), str):
        return str(raw["job_id"])
    if "type" in raw:
        return _redriven_job_id(record) or f"sqs-{record.message_id}"
    return None


def _redriven_job_id(record: SQSRecord) -> str | None:
    """The record id a redrive attached to a foreign body; only ids the worker itself gives
    foreign messages (`sqs-...`) are honoured, so a producer can't aim a body at another job."""
    attributes = record.raw_event.get("messageAttributes") or {}
    value = (attributes.get(JOB_ID_ATTRIBUTE) or {}).get("stringValue")
    if isinstance(value, str) and value.startswith("sqs-") and JOB_ID_PATTERN.fullmatch(value):
        return value
    return None


def _placeholder_record(rt: Runtime, job_id: str, type_name: str, queue: str) -> Job:
    """A record for a message that can't become a job (unreadable, unknown type, bad payload),
    so the failure is visible and listable like any other."""
    spec = rt.catalog.queue(queue)
    ts = now_iso()
    return Job(
        job_id=job_id,
        type=type_name,
        queue=queue,
        status=JobStatus.QUEUED,
        max_attempts=1,
        backoff=spec.backoff.as_dict(),
        timeout_s=spec.timeout_s,
        created_at=ts,
        updated_at=ts,
    )
