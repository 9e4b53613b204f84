"""Generation step Lambda: the state machine's tasks call it with {"step": ..., "state": {...}}."""

from offload.observability import logger, metrics, tracer
from offload.packs.generate.steps import Generation
from offload.runtime import default_runtime

generation = Generation(default_runtime())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return generation.run(event["step"], event["state"])
