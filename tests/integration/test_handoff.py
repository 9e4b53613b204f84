"""Jobs handed to a state machine execution: they stay active until the execution finishes them."""

from __future__ import annotations

from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.handoff import failure_info, finish_handed_off
from offload.jobs.model import JobStatus
from offload.testing.aws import catch_events, drain_bodies
from offload.testing.worker import Pump


def _handed_off(runtime) -> str:
    job_id = enqueue("test.handoff", {"label": "h"})
    Pump(runtime, "default").until(lambda: runtime.store.get(job_id).execution_arn is not None)
    return job_id


def test_a_handed_off_job_stays_active_until_its_execution_completes_it(runtime):
    events = catch_events(runtime.settings)
    job_id = _handed_off(runtime)
    job = runtime.store.get(job_id)
    assert job.status == JobStatus.ACTIVE and job.lease_until is not None
    assert drain_bodies(events) == [], "no terminal event while the execution runs"

    done = finish_handed_off(runtime, job_id, execution_arn=job.execution_arn, result={"video_key": "k"})

    assert done is not None and (done.status, done.result, done.progress) == (
        JobStatus.COMPLETED,
        {"video_key": "k"},
        100,
    )
    [event] = drain_bodies(events)
    assert event["detail-type"] == "Job Completed" and event["detail"]["job_id"] == job_id


def test_a_stale_execution_cannot_finish_the_job_and_a_failure_keeps_its_step(runtime):
    job_id = _handed_off(runtime)
    arn = runtime.store.get(job_id).execution_arn
    assert finish_handed_off(runtime, job_id, execution_arn=arn + "-old", result={}) is None
    assert runtime.store.get(job_id).status == JobStatus.ACTIVE

    failed = finish_handed_off(runtime, job_id, execution_arn=arn, error=failure_info("merge", "scene 2 failed"))

    assert failed is not None and failed.status == JobStatus.FAILED
    assert (failed.error.step, failed.error.reason) == ("merge", "scene 2 failed")
    assert finish_handed_off(runtime, job_id, execution_arn=arn, result={}) is None, "finished jobs never move"


def test_cancel_stops_the_execution_and_ends_the_job_cancelled(runtime):
    events = catch_events(runtime.settings)
    job_id = _handed_off(runtime)
    arn = runtime.store.get(job_id).execution_arn

    cancelled = admin.cancel(runtime, job_id)

    assert cancelled.status == JobStatus.CANCELLED
    status = runtime.clients.client("stepfunctions").describe_execution(executionArn=arn)["status"]
    assert status in ("ABORTED", "SUCCEEDED"), status  # moto runs a Pass machine instantly unless told not to
    [event] = drain_bodies(events)
    assert event["detail-type"] == "Job Cancelled"


def test_a_failed_handed_off_job_can_be_retried_and_is_handed_off_again(runtime):
    job_id = _handed_off(runtime)
    first = runtime.store.get(job_id).execution_arn
    finish_handed_off(runtime, job_id, execution_arn=first, error=failure_info("clips", "provider down"))
    requeued = admin.retry(runtime, job_id)
    assert requeued.status == JobStatus.QUEUED and requeued.execution_arn is None
    Pump(runtime, "default").until(lambda: runtime.store.get(job_id).execution_arn is not None)
    again = runtime.store.get(job_id)
    assert again.status == JobStatus.ACTIVE and again.attempts == 1 and again.error is None
