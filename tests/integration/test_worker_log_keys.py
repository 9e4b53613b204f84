"""Log lines carry the job they are about when one worker handles two batches at once.

The local cloud runs up to four pollers per queue as threads sharing the function's code (and a processor
may use threads on Lambda). The worker's job keys (job_id, attempt, ...) are per thread: with keys shared
by the process, a line logged for one job carried whichever job another thread started last, and a line
being formatted while another thread changed the keys could be lost (the load run hit both).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import Counter

from offload.jobs.enqueue import enqueue
from offload.jobs.worker import Worker
from offload.local.sqs_events import deliver_once, queue_arn
from offload.observability import logger


def test_each_job_completed_line_names_its_own_job(runtime):
    jobs = [enqueue("diag.sleep", {"seconds": 0.6, "steps": 6}) for _ in range(2)]
    worker = Worker(runtime, "default")  # one instance for both threads, as the local cloud's pollers share it
    url = runtime.settings.queue_urls("default").url
    arn = queue_arn(runtime.clients.sqs, url)
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)  # formats each line as it is logged, in the thread logging it
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)

    def one_message() -> None:
        deliver_once(runtime.clients.sqs, url, worker.handle_batch, arn=arn, batch_size=1)

    threads = [threading.Thread(target=one_message) for _ in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    logging.getLogger(logger.name).removeHandler(handler)

    assert all(runtime.store.get(j).status.value == "completed" for j in jobs)
    lines = [json.loads(line) for line in printed.getvalue().splitlines()]
    completed = Counter(line.get("job_id") for line in lines if line.get("message") == "job completed")
    started = Counter(line.get("job_id") for line in lines if line.get("message") == "job started")
    assert completed == Counter(jobs), completed
    assert started == Counter(jobs), started
