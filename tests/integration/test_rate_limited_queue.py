"""A rate-limited queue, against the real Redis: jobs wait for slots, none fails or is dead-lettered."""

from __future__ import annotations

import redis

from offload.aws import Clients
from offload.jobs.enqueue import enqueue_many
from offload.jobs.model import JobStatus
from offload.runtime import Runtime
from offload.testing.worker import Pump
from tests.support.processors import STARTS, TEST_CATALOG

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_rate_limited_jobs_are_deferred_spaced_by_the_limit_and_all_complete_without_using_attempts(settings):
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter("offload:{rl:queue:limited}*"):
        server.delete(key)
    rt = Runtime(settings.model_copy(update={"redis_url": REDIS_URL}), Clients(region="us-east-1"), TEST_CATALOG)
    STARTS.clear()
    limit = TEST_CATALOG.queue("limited").rate_limit
    assert limit is not None and (limit.limit, limit.period_s) == (5, 2)

    ids = enqueue_many("test.stamp", [{"n": i} for i in range(15)], runtime=rt)
    Pump(rt, "limited").until(lambda: rt.store.count("limited", JobStatus.COMPLETED) == 15, timeout_s=60)

    jobs = [rt.store.get(i) for i in ids]
    assert all(j.status == JobStatus.COMPLETED for j in jobs)
    assert all(j.attempts == 1 for j in jobs), "deferrals give their attempt back: each job used exactly one"
    assert rt.queues.depth("limited")["dlq"] == 0
    starts = sorted(t for _, t in STARTS)
    assert len(starts) == 15
    for i, t in enumerate(starts):
        in_window = [s for s in starts[i:] if s < t + limit.period_s - 0.05]
        assert len(in_window) <= limit.limit, f"{len(in_window)} starts within {limit.period_s}s of {t}"
    assert starts[-1] - starts[0] >= 2 * limit.period_s - 0.5, "15 jobs at 5 per 2 s need at least ~4 s"
