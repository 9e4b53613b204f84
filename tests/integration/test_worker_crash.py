"""A worker that dies mid-job (killed, or stopped by its function timeout) leaves the job `active` with a
lease and its message in flight. When the message comes back after the lease, the job runs again if it has
attempts left, and fails with a reason naming the crash if it has none: never stuck, never lost."""

from __future__ import annotations

from offload.jobs.enqueue import enqueue
from offload.jobs.model import JobStatus
from offload.testing.worker import Pump


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
