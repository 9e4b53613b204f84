"""Redis stops mid-run: rate-limited jobs are deferred, none fails or is lost; after a restart all complete."""

from __future__ import annotations

import shutil
import time

import pytest

from offload.aws import Clients
from offload.jobs.enqueue import enqueue_many
from offload.jobs.model import JobStatus
from offload.runtime import Runtime
from offload.testing.worker import Pump
from tests.support.processors import TEST_CATALOG

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")


def test_jobs_survive_a_redis_outage_deferred_not_failed_and_complete_after_restart(settings, private_redis):
    server = private_redis
    try:
        rt = Runtime(
            settings.model_copy(update={"redis_url": server.url}),
            Clients(region="us-east-1"),
            TEST_CATALOG,
        )
        deferred: list[str] = []
        pump = Pump(rt, "limited")
        ids = enqueue_many("test.stamp", [{"n": i} for i in range(8)], runtime=rt)
        pump.once()  # some start while Redis is up
        server.stop()
        rt.clients.sqs.meta.events.register(
            "provide-client-params.sqs.SendMessage", lambda params, **_: deferred.append(params["MessageBody"])
        )
        deadline = time.time() + 3
        while time.time() < deadline:
            pump.once()
            time.sleep(0.2)

        statuses = {rt.store.get(i).status for i in ids}
        assert JobStatus.FAILED not in statuses and rt.queues.depth("limited")["dlq"] == 0
        assert deferred, "jobs that could not reach the limiter were re-sent for later"
        server.start()
        pump.until(lambda: all(rt.store.get(i).status == JobStatus.COMPLETED for i in ids), timeout_s=60)

        assert all(rt.store.get(i).attempts == 1 for i in ids), "deferrals used no attempts"
        assert rt.queues.depth("limited")["dlq"] == 0
    finally:
        server.stop()
