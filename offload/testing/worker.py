"""Drive the real worker through SQS the way Lambda's event source does."""

from __future__ import annotations

import time
from typing import Any

from offload.jobs.enqueue import enqueue
from offload.jobs.model import Job
from offload.jobs.worker import Worker
from offload.local.sqs_events import deliver_once, queue_arn
from offload.runtime import Runtime


class Pump:
    """Delivers a queue's messages to a Worker in batches until a condition holds."""

    def __init__(self, rt: Runtime, queue: str, lane: str | None = None) -> None:
        self.rt = rt
        self.queue = queue
        self.worker = Worker(rt, queue)
        urls = rt.settings.queue_urls(queue)
        self.url = urls.lanes[lane] if lane and lane in urls.lanes else urls.url
        self.arn = queue_arn(rt.clients.sqs, self.url)
        self.deliveries: list[tuple[int, list[str]]] = []

    def once(self) -> tuple[int, list[str]]:
        result = deliver_once(
            self.rt.clients.sqs,
            self.url,
            self.worker.handle_batch,
            arn=self.arn,
            batch_size=self.rt.catalog.queue(self.queue).batch_size,
        )
        if result[0]:
            self.deliveries.append(result)
        return result

    def until(self, done: Any, timeout_s: float = 20.0) -> None:
        """Keep polling (as the event source does) until done() is true."""
        end = time.time() + timeout_s
        while not done():
            if time.time() > end:
                raise AssertionError(f"condition not reached in {timeout_s}s; deliveries: {self.deliveries}")
            if self.once()[0] == 0:
                time.sleep(0.1)


def run_job(rt: Runtime, type_name: str, data: Any = None, *, timeout_s: float = 30.0, **options: Any) -> Job:
    """Enqueue a job and deliver its queue's messages to the real Worker until it finishes; its final record."""
    job_id = enqueue(type_name, data, runtime=rt, **options)
    queue = rt.catalog.job_type(type_name).queue

    def finished() -> bool:
        job = rt.store.get(job_id)
        return job is not None and job.status.terminal

    pumps = [Pump(rt, queue)] + [Pump(rt, queue, lane.name) for lane in rt.catalog.queue(queue).extra_lanes]
    end = time.time() + timeout_s
    while not finished():
        if time.time() > end:
            raise AssertionError(f"job {job_id} ({type_name}) did not finish in {timeout_s}s: {rt.store.get(job_id)}")
        if sum(p.once()[0] for p in pumps) == 0:
            time.sleep(0.1)
    job = rt.store.get(job_id)
    assert job is not None
    return job
