"""A worker that dies mid-job (killed, or stopped by its function timeout) leaves the job `active` with a
lease and its message in flight. When the message comes back after the lease, the job runs again if it has
attempts left, and fails with a reason naming the crash if it has none: never stuck, never lost."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from offload.errors import InvocationEndingError, JobTimeoutError
from offload.jobs.context import JobContext
from offload.jobs.enqueue import enqueue
from offload.jobs.model import JobStatus, idempotent_job_id
from offload.local.sqs_events import deliver_once
from offload.local.timeouts import FunctionKilled
from offload.packs.core.hooks import WEBHOOK_TYPE
from offload.testing.worker import Pump
from tests.support.processors import RUNS


def _die_mid_job(runtime, job_id: str) -> None:
    """What a killed worker leaves: the start written (attempt counted, leased), nothing after it."""
    outcome = runtime.store.start(job_id, "default", lease_s=-1)  # its lease has passed by the time we look
    assert outcome.started


def test_a_job_whose_worker_died_runs_again_when_its_message_returns(runtime):
    job_id = enqueue("diag.echo", {"n": 1})
    _die_mid_job(runtime, job_id)

    Pump(runtime, "default").until(lambda: runtime.store.get(job_id).status.terminal)

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 2
    assert job.result == {"n": 1}


def test_a_job_whose_worker_died_on_its_last_attempt_fails_naming_the_crash(runtime):
    job_id = enqueue("diag.echo", {"n": 2}, attempts=1)
    _die_mid_job(runtime, job_id)

    Pump(runtime, "default").until(lambda: runtime.store.get(job_id).status.terminal)

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.FAILED
    assert "the worker stopped (timeout or crash)" in job.error.reason
    assert job.error.kind == "crashed"
    dead = runtime.queues.receive_dead("default")
    assert len(dead) == 1 and job_id in dead[0].body


def test_a_duplicate_delivery_while_the_job_runs_elsewhere_is_dropped_not_run(runtime):
    job_id = enqueue("diag.echo", {"n": 3})
    assert runtime.store.start(job_id, "default", lease_s=300).started  # another invocation holds it

    pump = Pump(runtime, "default")
    pump.once()

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.ACTIVE and job.attempts == 1  # not started a second time
    assert runtime.queues.depth("default")["in_flight"] + runtime.queues.depth("default")["visible"] == 0


def _finish_then_die(runtime, job_id: str) -> None:
    """A worker that finished the job's record and died before announcing it or deleting its message."""
    outcome = runtime.store.start(job_id, "default", lease_s=300)
    assert outcome.started
    assert runtime.store.complete(outcome.job, {"done": True}) is not None


def _receive_and_drop(runtime) -> None:
    """The dead invocation's receive: the message was handed out once and comes back (visibility 0 here)."""
    sqs, url = runtime.clients.sqs, runtime.queues.lane_url("default")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for message in got:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def _webhook(runtime, job_id: str, status: str):
    return runtime.store.get(idempotent_job_id(WEBHOOK_TYPE, f"{job_id}:{status}"))


def test_a_job_finished_by_a_worker_that_died_before_announcing_it_is_announced_on_redelivery(runtime):
    job_id = enqueue("diag.echo", {"n": 4}, webhook_url="https://hooks.example.com/done")
    _finish_then_die(runtime, job_id)
    _receive_and_drop(runtime)
    assert _webhook(runtime, job_id, "completed") is None  # what the death lost, so far

    Pump(runtime, "default").once()

    hook = _webhook(runtime, job_id, "completed")
    assert hook is not None and hook.type == WEBHOOK_TYPE
    assert runtime.store.get(job_id).attempts == 1  # announced, not run again
    Pump(runtime, "default").once()  # nothing left: the redelivery was acknowledged
    assert runtime.queues.depth("default")["visible"] + runtime.queues.depth("default")["in_flight"] == 0


def test_a_first_delivery_of_a_finished_job_is_a_duplicate_and_announces_nothing(runtime):
    job_id = enqueue("diag.echo", {"n": 5}, webhook_url="https://hooks.example.com/done")
    _finish_then_die(runtime, job_id)  # its only message was never received: a copy, not a redelivery

    Pump(runtime, "default").once()

    assert _webhook(runtime, job_id, "completed") is None


class _EndingInvocation:
    """Lambda's context for an invocation with `left_s` seconds left (earlier records used the rest)."""

    def __init__(self, left_s: float) -> None:
        self._until = time.time() + left_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._until - time.time()) * 1000))


def _deliver_with(runtime, context) -> None:
    pump = Pump(runtime, "default")
    deliver_once(runtime.clients.sqs, pump.url, lambda event, _: pump.worker.handle_batch(event, context), arn=pump.arn)


def test_a_job_started_late_in_an_ending_invocation_goes_back_without_using_an_attempt(runtime):
    job_id = enqueue("diag.sleep", {"seconds": 2.0, "steps": 8})

    _deliver_with(runtime, _EndingInvocation(1.6))  # 0.6 s before the invocation's own end, minus 1 s margin

    job = runtime.store.get(job_id)
    assert job.status != JobStatus.FAILED, job.error
    assert job.attempts == 0  # given back: the job did not run past its own timeout
    Pump(runtime, "default").until(lambda: runtime.store.get(job_id).status.terminal, timeout_s=30)
    done = runtime.store.get(job_id)
    assert done.status == JobStatus.COMPLETED and done.attempts == 1


def test_a_deadline_passed_is_the_jobs_timeout_unless_the_invocation_cut_it_short(runtime):
    job_id = enqueue("diag.sleep", {"seconds": 1.0})
    job = runtime.store.start(job_id, "default", lease_s=60).job

    with pytest.raises(JobTimeoutError, match="ran past its timeout at 50% progress"):
        JobContext(job, runtime, deadline=time.time() - 1).update_progress(50)
    with pytest.raises(InvocationEndingError, match="the invocation ends before the job could"):
        JobContext(job, runtime, deadline=time.time() - 1, cut_short=True).update_progress(50)


def _time_passes(runtime, events) -> None:
    """What the visibility timeout (6x the function's) does after a stopped invocation: the stopped job's lease
    (its timeout + 5 s) has run out, and every message it received and nobody deleted is visible again."""
    sqs, url = runtime.clients.sqs, runtime.queues.lane_url("default")
    for event in events:
        for record in event["Records"]:
            with contextlib.suppress(sqs.exceptions.ClientError):  # deleted: settled by the worker or the event source
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)
    for job in runtime.store.list_jobs(queue="default", status=JobStatus.ACTIVE):
        runtime.clients.dynamodb.update_item(
            TableName=runtime.settings.table,
            Key={"job_id": {"S": job.job_id}},
            UpdateExpression="SET lease_until = :past",
            ExpressionAttributeValues={":past": {"N": repr(time.time() - 1)}},
        )


def _deliver_until_stoppers_end(runtime, stoppers: list[str], rounds: int = 12) -> list[dict]:
    """Deliver the default queue's batches, each invocation stopped where a job stops it, letting the visibility
    timeout pass after each, until the stopping jobs have ended; returns every event delivered."""
    pump = Pump(runtime, "default")
    events: list[dict] = []

    def invoke(event, context):
        events.append(event)
        return pump.worker.handle_batch(event, context)

    for _ in range(rounds):
        with contextlib.suppress(FunctionKilled):
            deliver_once(runtime.clients.sqs, pump.url, invoke, arn=pump.arn, batch_size=10)
        _time_passes(runtime, events)
        if all(runtime.store.get(j).status.terminal for j in stoppers):
            break
    return events


def _most_receives(events: list[dict]) -> dict[str, int]:
    receives: dict[str, int] = {}
    for event in events:
        for record in event["Records"]:
            job_id = json.loads(record["body"])["job_id"]
            receives[job_id] = max(receives.get(job_id, 0), int(record["attributes"]["ApproximateReceiveCount"]))
    return receives


def test_a_job_that_stops_every_invocation_costs_its_batch_mates_one_redelivery_not_their_messages(runtime):
    mates = [enqueue("test.count", {"label": str(n)}) for n in range(3)]
    stopper = enqueue("test.stop", {})  # 3 attempts, each one stopping the invocation
    mates += [enqueue("test.count", {"label": str(n)}) for n in range(3, 6)]

    events = _deliver_until_stoppers_end(runtime, [stopper])

    assert [runtime.store.get(j).status for j in mates] == [JobStatus.COMPLETED] * 6
    failed = runtime.store.get(stopper)
    assert failed.status == JobStatus.FAILED and failed.error.kind == "crashed", failed
    receives = _most_receives(events)
    assert max(receives[j] for j in mates) <= 2, receives  # the first stop, before anything was known
    assert receives[stopper] == 4  # three stopped runs, then failed without running
    dead = runtime.queues.receive_dead("default")
    assert [stopper in m.body for m in dead] == [True]
    Pump(runtime, "default").once()
    assert runtime.queues.depth("default")["visible"] + runtime.queues.depth("default")["in_flight"] == 0


def test_two_jobs_that_stop_every_invocation_run_apart_and_both_end_failed(runtime):
    mates = [enqueue("test.count", {"label": str(n)}) for n in range(2)]
    stoppers = [enqueue("test.stop", {}), enqueue("test.count", {"label": "between"}), enqueue("test.stop", {})]
    mates.append(stoppers.pop(1))
    mates += [enqueue("test.count", {"label": str(n)}) for n in range(3, 5)]

    events = _deliver_until_stoppers_end(runtime, stoppers)

    assert [runtime.store.get(j).status for j in mates] == [JobStatus.COMPLETED] * 5
    for job_id in stoppers:
        job = runtime.store.get(job_id)
        assert job.status == JobStatus.FAILED and job.error.kind == "crashed" and job.attempts == 3, job
        assert RUNS.count(job_id) == 3  # each attempt ran once: never both in one invocation after the first stop
    receives = _most_receives(events)
    assert max(receives[j] for j in mates) <= 3, receives  # the two first stops, before either was known
    spec = runtime.catalog.queue("default")
    assert max(receives[j] for j in stoppers) < spec.max_receive_count  # SQS's redrive never took one
    assert sorted(json.loads(m.body)["job_id"] for m in runtime.queues.receive_dead("default")) == sorted(stoppers)
