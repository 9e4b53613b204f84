"""Priority lanes through the public entry points: enqueue picks the lane, each lane has its own consumer."""

from __future__ import annotations

from offload.jobs.enqueue import enqueue, enqueue_many
from offload.jobs.model import JobStatus
from offload.testing.worker import Pump
from tests.support.processors import RUNS


def test_high_priority_jobs_start_before_a_backlog_of_low_priority_ones(runtime):
    low = enqueue_many("test.count", [{"label": f"low{i}"} for i in range(40)], priority=2)
    high = [enqueue("test.count", {"label": f"high{i}"}, priority=9) for i in range(3)]
    normal_lane, high_lane = Pump(runtime, "default"), Pump(runtime, "default", lane="high")

    # one poll of each lane, as the two event sources do concurrently
    normal_lane.once()
    high_lane.once()

    assert all(runtime.store.get(j).status == JobStatus.COMPLETED for j in high)
    assert sum(runtime.store.get(j).status == JobStatus.COMPLETED for j in low) == 10, "one batch of the backlog"
    assert set(high) <= set(RUNS)


def test_low_priority_jobs_are_not_starved_by_a_flood_of_high_priority_ones(runtime):
    high = enqueue_many("test.count", [{"label": f"high{i}"} for i in range(50)], priority=9)
    low = [enqueue("test.count", {"label": f"low{i}"}, priority=1) for i in range(5)]
    normal_lane, high_lane = Pump(runtime, "default"), Pump(runtime, "default", lane="high")

    high_lane.once()
    normal_lane.once()

    assert all(runtime.store.get(j).status == JobStatus.COMPLETED for j in low)
    assert sum(runtime.store.get(j).status == JobStatus.COMPLETED for j in high) == 10


def test_retries_and_redrive_keep_a_job_in_its_lane(runtime):
    job_id = enqueue("diag.flaky", {"fail_times": 1}, attempts=2, priority=9)
    high_lane = Pump(runtime, "default", lane="high")

    high_lane.until(lambda: runtime.store.get(job_id).status == JobStatus.COMPLETED)

    assert runtime.store.get(job_id).attempts == 2
    assert runtime.queues.depth("default")["visible"] == 0
