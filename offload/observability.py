"""Logger, Tracer and Metrics: created once here and imported everywhere else."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "offload"
NAMESPACE = "Offload"

# Powertools reads POWERTOOLS_LOG_LEVEL itself; LOG_LEVEL is the name the stack and README use.
logger = Logger(service=SERVICE, level=os.environ.get("LOG_LEVEL", "INFO"))
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE), service=SERVICE)


def metrics_enabled() -> bool:
    """False when POWERTOOLS_METRICS_DISABLED is set (the local cloud sets it: no EMF on the terminal)."""
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() not in ("1", "true")
