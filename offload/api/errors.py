"""Every failure the API answers becomes JSON `{"error", "message", "field"?}` with its status;
nothing else (a stack trace, a botocore message with ARNs) ever reaches the caller."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from botocore.exceptions import BotoCoreError, ClientError

from offload.catalog import UnknownJobTypeError
from offload.jobs.admin import AdminError, InvalidCursorError, JobNotFoundError
from offload.jobs.enqueue import EnqueueError
from offload.jobs.model import InvalidJobIdError
from offload.jobs.registry import PayloadError
from offload.observability import logger
from offload.settings import SettingsError

MAX_BODY_BYTES = 256 * 1024
# AWS error codes that mean "too many requests right now": the caller should retry later.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)
# The request fields whose name opens the ValueErrors enqueue raises ("delay must be >= 0 ...").
_FIELDS = ("delay", "run_at", "webhook_url", "idempotency_key", "attempts", "priority", "backoff")


class ApiError(Exception):
    """An answer a route gives on purpose: status, error code, message, and the field at fault."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field


def error_response(status: int, error: str, message: str, field: str | None = None) -> Response:
    """The one JSON shape of every error."""
    body: dict[str, Any] = {"error": error, "message": message}
    if field is not None:
        body["field"] = field
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def too_large(size: int) -> dict[str, Any]:
    """The 413 answer, as a Lambda proxy response (given before the resolver parses anything)."""
    import json

    return {
        "statusCode": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps(
            {
                "error": "payload_too_large",
                "message": f"the body is {size} bytes, over the API's {MAX_BODY_BYTES} bytes: put large data in S3 "
                "(POST /uploads) and pass its key in the job's data",
            }
        ),
    }


def register(app: APIGatewayHttpResolver) -> None:
    """Map offload's errors (and everything else) to their statuses on `app`."""

    @app.exception_handler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.error, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "bad_json", "the body is not valid JSON: send a JSON object")
        first = errors[0] if errors else {}
        field = _field_of(first.get("loc", ()))
        others = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return error_response(
            422, "validation_error", f"{field or 'request'}: {first.get('msg', 'invalid')}{others}", field
        )

    @app.exception_handler(NotFoundError)
    def _route(exc: NotFoundError) -> Response:
        event = app.current_event
        return error_response(
            404, "not_found", f"no route {event.http_method} {event.path}: GET /openapi.json lists the routes"
        )

    @app.exception_handler(JobNotFoundError)
    def _no_job(exc: JobNotFoundError) -> Response:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(AdminError)
    def _conflict(exc: AdminError) -> Response:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(UnknownJobTypeError)
    def _type(exc: UnknownJobTypeError) -> Response:
        return error_response(422, "validation_error", str(exc.args[0] if exc.args else exc), "type")

    @app.exception_handler(PayloadError)
    def _payload(exc: PayloadError) -> Response:
        found = re.search(r"\bdata(\.[\w\[\].]+)?", str(exc))
        return error_response(422, "validation_error", str(exc), found.group(0).rstrip(".") if found else "data")

    @app.exception_handler(InvalidJobIdError)
    def _job_id(exc: InvalidJobIdError) -> Response:
        return error_response(422, "validation_error", str(exc), "id")

    @app.exception_handler(InvalidCursorError)
    def _cursor(exc: InvalidCursorError) -> Response:
        return error_response(422, "validation_error", str(exc), "cursor")

    @app.exception_handler(SettingsError)
    def _not_deployed(exc: SettingsError) -> Response:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(ValueError)
    def _value(exc: ValueError) -> Response:
        message = str(exc)
        field = next((f for f in _FIELDS if message.startswith(f) or f" {f} " in message[:40]), None)
        return error_response(422, "validation_error", message, "delay_s" if field == "delay" else field)

    @app.exception_handler(ClientError)
    def _aws(exc: ClientError) -> Response:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            return _throttled(code)
        return _internal(exc)

    @app.exception_handler(EnqueueError)
    def _enqueue(exc: EnqueueError) -> Response:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in THROTTLING_CODES:
            return _throttled(cause.response["Error"]["Code"])
        return error_response(503, "unavailable", str(exc))

    @app.exception_handler(ServiceError)
    def _service(exc: ServiceError) -> Response:
        return error_response(
            exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"), str(exc.msg)
        )

    @app.exception_handler([BotoCoreError, Exception])
    def _unexpected(exc: Exception) -> Response:
        return _internal(exc)


def _throttled(code: str) -> Response:
    response = error_response(
        429, "throttled", f"AWS throttled the request ({code}): retry after the Retry-After seconds, with backoff"
    )
    response.headers["Retry-After"] = "1"
    return response


def _internal(exc: Exception) -> Response:
    logger.exception("api request failed", error_type=type(exc).__name__)
    return error_response(500, "internal_error", "the request failed on our side; it is logged with its request id")


def _field_of(loc: Any) -> str | None:
    """`("body", "items", 3)` -> "items[3]"; `("query", "limit")` -> "limit"."""
    parts = list(loc)[1:] if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None
