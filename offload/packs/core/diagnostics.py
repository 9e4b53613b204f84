"""Diagnostic job types: smoke-test a deployment and watch retries, progress and the DLQ."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from offload.errors import RetryableError
from offload.jobs.context import JobContext


class EchoData(BaseModel):
    """Anything: it comes back as the result."""

    model_config = {"extra": "allow"}


def echo(data: EchoData, ctx: JobContext) -> dict[str, Any]:
    """Return the payload unchanged."""
    return data.model_dump(mode="json")


class SleepData(BaseModel):
    seconds: float = Field(default=1.0, ge=0, le=600, description="total time to sleep")
    steps: int = Field(default=10, ge=1, le=1000, description="progress updates along the way")


def sleep(data: SleepData, ctx: JobContext) -> dict[str, Any]:
    """Sleep in steps, reporting progress after each (which also checks for cancellation)."""
    for step in range(1, data.steps + 1):
        time.sleep(data.seconds / data.steps)
        ctx.update_progress(round(100 * step / data.steps))
    return {"slept_s": data.seconds, "steps": data.steps}


class FlakyData(BaseModel):
    fail_times: int = Field(default=1, ge=0, description="fail this many attempts of each run, then succeed")
    fail_until: float | None = Field(default=None, description="or: fail every attempt until this Unix time")
    message: str = "planned failure"


def flaky(data: FlakyData, ctx: JobContext) -> dict[str, Any]:
    """Fail with a retryable error as configured, then succeed."""
    if data.fail_until is not None and time.time() < data.fail_until:
        raise RetryableError(f"{data.message}: failing until {data.fail_until:.0f} (attempt {ctx.attempt})")
    if data.fail_until is None and ctx.attempt <= data.fail_times:
        raise RetryableError(f"{data.message} {ctx.attempt} of {data.fail_times}")
    return {"succeeded_on_attempt": ctx.attempt}
