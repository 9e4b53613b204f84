"""Delays beyond SQS's 15 minutes: the message hops until due; the job stays delayed and can be cancelled."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.model import JobMessage, JobStatus
from offload.testing.worker import Pump
from tests.support.processors import RUNS


def _sent(runtime):
    sent: list[dict] = []
    runtime.clients.sqs.meta.events.register(
        "provide-client-params.sqs.SendMessage", lambda params, **_: sent.append(dict(params))
    )
    return sent


def test_a_two_hour_delay_is_recorded_and_its_first_hop_is_the_sqs_maximum(runtime):
    sent = _sent(runtime)

    job_id = enqueue("test.count", {"label": "later"}, delay=timedelta(hours=2))

    job = runtime.store.get(job_id)
    assert job.status == JobStatus.DELAYED
    due = datetime.fromisoformat(job.run_at).timestamp()
    assert due - time.time() == pytest.approx(7200, abs=5)
    [message] = sent
    assert message["DelaySeconds"] == 900
    assert json.loads(message["MessageBody"])["not_before"] == pytest.approx(due, abs=1)


def test_a_message_that_is_not_due_is_sent_on_and_the_job_runs_when_due(runtime):
    job_id = enqueue("test.count", {"label": "hop"}, run_at=datetime.now(UTC) + timedelta(hours=1))
    pump = Pump(runtime, "default")
    runtime.clients.sqs.purge_queue(QueueUrl=pump.url)
    # The last hop, as the worker would see it 1 h later: due in 2.5 s.
    runtime.queues.send("default", JobMessage(job_id=job_id, type="test.count", not_before=time.time() + 2.5))
    sent = _sent(runtime)

    pump.once()

    assert RUNS == [] and runtime.store.get(job_id).status == JobStatus.DELAYED
    assert [m["DelaySeconds"] for m in sent] == [3]
    pump.until(lambda: runtime.store.get(job_id).status == JobStatus.COMPLETED, timeout_s=15)
    assert RUNS == [job_id]


def test_a_cancelled_long_delayed_job_never_runs(runtime):
    job_id = enqueue("test.count", {"label": "never"}, delay=5000)
    admin.cancel(runtime, job_id)
    pump = Pump(runtime, "default")
    runtime.clients.sqs.purge_queue(QueueUrl=pump.url)
    runtime.queues.send("default", JobMessage(job_id=job_id, type="test.count", not_before=time.time() - 1))

    pump.once()

    assert RUNS == [] and runtime.store.get(job_id).status == JobStatus.CANCELLED


def test_run_at_must_be_timezone_aware_and_not_both_delay_and_run_at(runtime):
    with pytest.raises(ValueError, match="timezone-aware"):
        enqueue("test.count", {}, run_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="not both"):
        enqueue("test.count", {}, delay=5, run_at=datetime.now(UTC))
