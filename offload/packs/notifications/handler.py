"""SES delivery events Lambda: EventBridge (source aws.ses, the configuration set's events) -> delivery records."""

from offload.observability import logger, metrics, tracer
from offload.packs.notifications.delivery import delivery_store
from offload.packs.notifications.events import handle
from offload.runtime import default_runtime

store = delivery_store(default_runtime())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return handle(store, event)
