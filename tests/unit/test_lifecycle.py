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


def test_a_lifecycle_refuses_moves_to_statuses_it_does_not_declare():
    import pytest

    from offload.lifecycle import Lifecycle

    with pytest.raises(ValueError, match=r"undeclared statuses \['done'\]"):
        Lifecycle({"new": {"done"}})


def test_the_write_condition_lists_exactly_the_sources_of_the_target():
    from offload.lifecycle import Lifecycle, status_condition

    flow = Lifecycle({"new": {"running"}, "running": {"running", "done"}, "done": set()})

    assert flow.final == {"done"} and flow.sources_of("running") == ["new", "running"]
    assert status_condition(flow.sources_of("done")) == ("(#s = :s0)", {":s0": {"S": "running"}})


def test_a_move_nothing_may_make_is_refused_before_any_write():
    import pytest

    from offload.lifecycle import Lifecycle, status_condition

    with pytest.raises(ValueError, match="can never succeed"):
        status_condition(Lifecycle({"new": {"done"}, "done": set()}).sources_of("new"))


def test_image_records_use_the_same_mechanism_and_finished_ones_never_move():
    from offload.packs.images.store import IMAGE_LIFECYCLE

    assert IMAGE_LIFECYCLE.final == {"completed", "failed", "cancelled"}
    assert IMAGE_LIFECYCLE.sources_of("completed") == ["processing"]
