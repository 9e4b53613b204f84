"""A job that goes on in a state machine: the processor starts an execution and hands the job to it.

The worker's processor returns `Handoff(execution_arn, lease_s)`; the job stays `active` with the
execution's ARN on its record, and the message is acknowledged. The execution's steps report progress
(`JobStore.set_progress`) and its last step calls `finish_handed_off`, which completes or fails the job
exactly as the worker would: one conditional write, the `Job Completed` / `Job Failed` event, the
packs' on-finish hooks (the webhook) and, for a failure, the admins' alert. `offload jobs cancel`
stops the execution (`admin.cancel`) and ends the job `cancelled` the same way.

`announce` is the one home of "a job reached a terminal state": the worker, the admin functions and
the handed-off finish all call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from offload.catalog import import_object
from offload.jobs.enqueue import place_result
from offload.jobs.model import Job, JobErrorInfo, JobStatus, now_iso
from offload.jobs.notify import EventBuffer, job_alert, publish_alert
from offload.observability import logger

if TYPE_CHECKING:
    from offload.runtime import Runtime


@dataclass(frozen=True)
class Handoff:
    """What a processor returns when a state machine execution carries the job on.

    `lease_s` is how long the execution may run before the job counts as lost (the state machine's
    own timeout, or a bound on it)."""

    execution_arn: str
    lease_s: float


class Announcer:
    """Sends terminal jobs' events (batched) and runs the packs' on-finish hooks, imported once."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.events = EventBuffer(rt.clients.events, rt.settings.event_bus)
        self._hooks: list[tuple[str, Any]] | None = None

    def announce(self, job: Job) -> None:
        """The terminal event (sent at `flush`), then every on-finish hook; a failing hook is logged."""
        self.events.add(job)
        for path, hook in self.hooks():
            try:
                hook(job, self.rt)
            except Exception:
                logger.exception("an on-finish hook failed; the job's outcome stands", hook=path)

    def alert(self, job: Job) -> None:
        """The admins' SNS alert for a failed job (logged, never raised: the record is the truth)."""
        try:
            publish_alert(self.rt.clients.sns, self.rt.settings.alert_topic_arn, job_alert(job))
        except Exception:
            logger.exception("could not publish the failure alert")

    def hooks(self) -> list[tuple[str, Any]]:
        if self._hooks is None:
            self._hooks = [(path, import_object(path, "on-finish hook")) for path in self.rt.catalog.on_finish]
        return self._hooks

    def flush(self) -> int:
        return self.events.flush()


def announce(rt: Runtime, job: Job) -> None:
    """Announce one terminal job now (event sent, hooks run)."""
    announcer = Announcer(rt)
    announcer.announce(job)
    if job.status == JobStatus.FAILED:
        announcer.alert(job)
    announcer.flush()


def finish_handed_off(
    rt: Runtime,
    job_id: str,
    *,
    execution_arn: str,
    result: Any = None,
    error: JobErrorInfo | None = None,
) -> Job | None:
    """Complete (or, with `error`, fail) a job handed to `execution_arn`, and announce it.

    None when the job is no longer that execution's (cancelled, finished, or retried by a newer
    execution): a late or stale execution never changes another run's outcome."""
    job = rt.store.get(job_id)
    if job is None or job.status != JobStatus.ACTIVE or job.execution_arn != execution_arn:
        logger.info("handed-off job is not this execution's any more; left as it is", job_id=job_id)
        return None
    if error is None:
        value, ref = place_result(rt, job_id, result)
        done = rt.store.complete(job, value, ref)
    else:
        done = rt.store.fail(job, error)
    if done is not None:
        announce(rt, done)
    return done


def failure_info(step: str, reason: str) -> JobErrorInfo:
    """The error a handed-off job fails with: the state machine's step and the reason."""
    return JobErrorInfo(step=step, reason=reason, kind="permanent", at=now_iso())
