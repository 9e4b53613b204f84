"""Video pipeline step Lambda: the state machine's tasks call it with {"step": ..., "state": {...}}."""

from offload.observability import logger, metrics, tracer
from offload.packs.video.steps import VideoPipeline
from offload.runtime import default_runtime

pipeline = VideoPipeline(default_runtime())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return pipeline.run(event["step"], event["state"])
