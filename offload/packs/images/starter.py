"""image.process: an upload under uploads/images/ becomes a pending record and a pipeline run.

This job runs on the rate-limited `images` queue, so a backlog of uploads waits in SQS
(cheap, 14-day retention) and executions start no faster than the AI limit allows.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel

from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.packs.images.steps import ImagePipeline, new_record
from offload.packs.images.store import version_tag


class UploadData(BaseModel):
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None


def execution_name(data: UploadData) -> str:
    """One execution per object version: Standard workflows refuse a second run of a name."""
    digest = hashlib.sha256(f"{data.bucket}/{data.key}#{data.version_id or data.etag}".encode()).hexdigest()
    return f"img-{digest[:60]}"


def start(data: UploadData, ctx: JobContext) -> dict[str, Any]:
    """Register the upload and start the pipeline; a duplicate event for the same version does nothing."""
    import json

    pipeline = ImagePipeline(ctx.runtime)
    arn = pipeline.settings.pipeline_arn
    if not arn:
        raise NonRetryableError("the images pack's settings have no pipeline_arn: the image pipeline is not deployed")
    if data.size == 0:
        record = new_record(data.model_dump())
        pipeline.store.register(record)
        pipeline.store.update(
            data.key,
            "failed",
            version=version_tag(record.model_dump()),
            error={"step": "inspect", "reason": "upload is empty (0 bytes)"},
        )
        return {"status": "failed", "reason": "upload is empty (0 bytes)"}
    if not pipeline.store.register(new_record(data.model_dump())):
        return {"status": "duplicate", "key": data.key}
    sfn = ctx.runtime.clients.client("stepfunctions")
    try:
        run = sfn.start_execution(
            stateMachineArn=arn, name=execution_name(data), input=json.dumps({"image": data.model_dump()})
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"status": "duplicate", "key": data.key}
    # One conditional write that keeps whatever status the execution's own steps set meanwhile.
    version = version_tag(data.model_dump())
    if pipeline.store.annotate(data.key, version=version, execution_arn=run["executionArn"]) is None:
        current = pipeline.store.get(data.key)
        if current is not None and current.status == "cancelled" and version_tag(current.model_dump()) == version:
            sfn.stop_execution(executionArn=run["executionArn"], cause="cancelled before it started")
    return {"status": "started", "key": data.key, "execution_arn": run["executionArn"]}
