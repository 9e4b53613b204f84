"""API Lambda: every HTTP API route, one function (`offload.api.app`)."""

from typing import Any

from offload.api.app import handle
from offload.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return handle(event, context)
