"""Logger, Tracer and Metrics: created once here and imported everywhere else."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from offload.catalog import METRICS_NAMESPACE

SERVICE = "offload"
NAMESPACE = METRICS_NAMESPACE

# Powertools reads POWERTOOLS_LOG_LEVEL itself; LOG_LEVEL is the name the stack and README use.
logger = Logger(service=SERVICE, level=os.environ.get("LOG_LEVEL", "INFO"))


class _NoTracer:
    """Stands in for Tracer where tracing is off: importing the X-Ray SDK costs ~40-190 ms of
    cold start (more outside Lambda, where it builds X-Ray clients) for nothing."""

    def capture_lambda_handler(self, handler: Any = None, **_: Any) -> Any:
        return handler if handler is not None else (lambda fn: fn)

    def capture_method(self, method: Any = None, **_: Any) -> Any:
        return method if method is not None else (lambda fn: fn)

    def put_annotation(self, key: str, value: Any) -> None:
        return None


def _tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true")


tracer: Any = Tracer(service=SERVICE) if _tracing_enabled() else _NoTracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE), service=SERVICE)


def metrics_enabled() -> bool:
    """False when POWERTOOLS_METRICS_DISABLED is set (the local cloud sets it: no EMF on the terminal)."""
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() not in ("1", "true")
