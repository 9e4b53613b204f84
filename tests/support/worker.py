"""Drive the real worker through SQS the way Lambda's event source does."""

from __future__ import annotations

import time
from typing import Any

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
