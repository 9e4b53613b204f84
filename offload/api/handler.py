"""API Lambda: every HTTP API route, one function (`offload.api.app`)."""

from typing import Any

from offload.api.app import bind, handle
from offload.observability import logger, tracer
from offload.runtime import default_runtime

# Built once, from this function's OFFLOAD_* environment, when the function loads (as the workers do).
bind(default_runtime())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return handle(event, context)
