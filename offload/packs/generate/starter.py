"""video.generate: register the generation and hand the job to one execution of the state machine.

Each run of the job (the first, and each `offload jobs retry`) is a new execution named after the job
and the run; the scenes' S3 state makes a retry redo only what failed (see steps.py).
"""

from __future__ import annotations

import re

from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.jobs.handoff import Handoff
from offload.media.records import new_record, start_pipeline
from offload.packs.generate.options import GenerateData
from offload.packs.generate.steps import Generation
from offload.packs.generate.store import GenerationRecord

# Longer than any execution can run (Standard's own limit is a year; the machine's timeout is set below it).
EXECUTION_LEASE_S = 24 * 3600


def start_generation(data: GenerateData, ctx: JobContext) -> Handoff:
    g = Generation(ctx.runtime)
    arn = g.settings.pipeline_arn
    if not arn:
        raise NonRetryableError("the generate pack's settings have no pipeline_arn: the pipeline is not deployed")
    job = ctx.runtime.store.get(ctx.job_id)
    started_at = job.started_at if job is not None and job.started_at else "0"
    run = "run-" + re.sub(r"[^0-9]", "", started_at)[:17]
    provider = data.provider or g.options.provider
    record = new_record(
        GenerationRecord,
        {"key": ctx.job_id, "bucket": g.bucket, "version_id": run},
        provider=provider,
        model=data.model or (g.options.model if provider == g.options.provider else None),
        prompt=data.prompt,
        style=data.style,
        user_id=data.user_id,
        stage="script",
    )
    started = start_pipeline(
        g.store,
        record,
        ctx.runtime.clients.client("stepfunctions"),
        machine_arn=arn,
        name=f"gen-{ctx.job_id}-{run}"[:80],
        payload={"job_id": ctx.job_id, "run": run, "data": data.model_dump(mode="json", exclude_none=True)},
    )
    if started["status"] != "started":
        current = g.store.get(ctx.job_id)
        if current is None or not current.execution_arn:
            raise NonRetryableError(f"generation {ctx.job_id} {run} was already started but has no execution")
        return Handoff(current.execution_arn, lease_s=EXECUTION_LEASE_S)
    return Handoff(started["execution_arn"], lease_s=EXECUTION_LEASE_S)
