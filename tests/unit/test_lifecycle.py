"""The job lifecycle: which moves exist, and that none goes backwards."""

from offload.jobs.model import TERMINAL, TRANSITIONS, JobStatus, idempotent_job_id, new_job_id, sources_of


def test_finished_jobs_never_move_except_an_operator_retry_of_a_failed_one():
    assert TRANSITIONS[JobStatus.COMPLETED] == frozenset()
    assert TRANSITIONS[JobStatus.CANCELLED] == frozenset()
    assert TRANSITIONS[JobStatus.FAILED] == {JobStatus.QUEUED}


def test_nothing_returns_to_queued_but_an_operator_retry():
    assert sources_of(JobStatus.QUEUED) == [JobStatus.FAILED]


def test_completed_is_reached_only_from_active():
    assert sources_of(JobStatus.COMPLETED) == [JobStatus.ACTIVE]
    assert all(s.terminal for s in TERMINAL) and not JobStatus.ACTIVE.terminal


def test_job_ids_are_time_ordered_and_idempotency_ids_are_stable_per_type():
    first, second = new_job_id(), new_job_id()
    assert len(first) == 28 and first[:12] <= second[:12]
    assert idempotent_job_id("a", "k") == idempotent_job_id("a", "k") != idempotent_job_id("b", "k")
