"""Worker Lambda: one per catalog queue, fed by that queue's SQS event source."""

import os

from offload.jobs.worker import Worker
from offload.observability import logger, metrics, tracer
from offload.runtime import default_runtime

worker = Worker(default_runtime(), os.environ["OFFLOAD_QUEUE"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return worker.handle_batch(event, context)
