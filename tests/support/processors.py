"""Test-only job types: they record what happened so tests can count runs."""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import BaseModel, Field

from offload.catalog import Backoff, Catalog, JobType, Pack, QueueSpec, RateLimit
from offload.errors import NonRetryableError, RateLimitedError
from offload.jobs.context import JobContext
from offload.jobs.handoff import Handoff
from offload.local.timeouts import FunctionKilled
from offload.packs import everything

RUNS: list[str] = []
_lock = threading.Lock()


class CountData(BaseModel):
    label: str = "x"


def count(data: CountData, ctx: JobContext) -> dict[str, Any]:
    with _lock:
        RUNS.append(ctx.job_id)
    return {"label": data.label, "attempt": ctx.attempt}


class PoisonData(BaseModel):
    poison: bool = False


def maybe_poison(data: PoisonData, ctx: JobContext) -> dict[str, Any]:
    with _lock:
        RUNS.append(ctx.job_id)
    if data.poison:
        raise RuntimeError("poisoned payload")
    return {"ok": True}


def stop_invocation(data: CountData, ctx: JobContext) -> None:
    """A job that outlives its function and never calls AWS in between: Lambda stops the process mid-job,
    which the local cloud's invocation limits show as FunctionKilled (a BaseException no handler catches)."""
    with _lock:
        RUNS.append(ctx.job_id)
    raise FunctionKilled("Task timed out after 3.00 seconds (tests)")


class ProgressData(BaseModel):
    steps: int = Field(default=4, ge=1)
    pause_s: float = 0.2


def progress(data: ProgressData, ctx: JobContext) -> dict[str, Any]:
    for step in range(1, data.steps + 1):
        time.sleep(data.pause_s)
        ctx.update_progress(round(100 * step / data.steps))
    return {"steps": data.steps}


class RefuseData(BaseModel):
    why: str = "refused"


def refuse(data: RefuseData, ctx: JobContext) -> None:
    with _lock:
        RUNS.append(ctx.job_id)
    raise NonRetryableError(data.why)


class LimitedData(BaseModel):
    limited_times: int = 1


def limited(data: LimitedData, ctx: JobContext) -> dict[str, Any]:
    """Rate-limited on the first N runs (as if the shared limiter said no), then runs."""
    with _lock:
        RUNS.append(ctx.job_id)
        runs = RUNS.count(ctx.job_id)
    if runs <= data.limited_times:
        raise RateLimitedError("provider limit reached", retry_after_s=1)
    return {"runs": runs, "attempt": ctx.attempt}


STARTS: list[tuple[str, float]] = []


class StampData(BaseModel):
    n: int = 0


def stamp(data: StampData, ctx: JobContext) -> dict[str, Any]:
    """Record when the job really started (after the queue's rate limit let it)."""
    with _lock:
        STARTS.append((ctx.job_id, time.time()))
    return {"n": data.n, "attempt": ctx.attempt}


HANDOFF_MACHINE = "tests-handoff"


def hand_off(data: CountData, ctx: JobContext) -> Handoff:
    """Start an execution of a one-Pass state machine and hand the job to it (the test finishes it)."""
    import json

    sfn = ctx.runtime.clients.client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arn = (
        machines.get(HANDOFF_MACHINE)
        or sfn.create_state_machine(
            name=HANDOFF_MACHINE,
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/tests",
        )["stateMachineArn"]
    )
    run = sfn.start_execution(stateMachineArn=arn, name=f"h-{ctx.job_id}", input="{}")
    return Handoff(run["executionArn"], lease_s=600)


TESTS_PACK = Pack(
    "tests",
    queues=(QueueSpec("limited", concurrency=2, attempts=1, rate_limit=RateLimit(5, 2)),),
    job_types=(
        JobType("test.count", queue="default", processor="tests.support.processors:count"),
        JobType(
            "test.poison",
            queue="default",
            processor="tests.support.processors:maybe_poison",
            attempts=3,
            backoff=Backoff("exponential", 1.0),
        ),
        JobType("test.progress", queue="default", processor="tests.support.processors:progress"),
        JobType("test.refuse", queue="default", processor="tests.support.processors:refuse"),
        JobType("test.limited", queue="default", processor="tests.support.processors:limited", attempts=1),
        JobType("test.stamp", queue="limited", processor="tests.support.processors:stamp"),
        JobType("test.handoff", queue="default", processor="tests.support.processors:hand_off"),
        JobType("test.stop", queue="default", processor="tests.support.processors:stop_invocation", attempts=3),
    ),
)
# Every built-in pack plus the test job types, composed the way an app composes its own.
TEST_CATALOG = Catalog.compose(everything, TESTS_PACK)
