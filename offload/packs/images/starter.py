"""image.process: an upload under uploads/images/ becomes a pending record and a pipeline run.

This job runs on the rate-limited `images` queue, so a backlog of uploads waits in SQS
(cheap, 14-day retention) and executions start no faster than the AI limit allows.
"""

from __future__ import annotations

from typing import Any

from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.media.records import execution_name, fail_empty, new_record, start_pipeline
from offload.packs.images.steps import ImagePipeline
from offload.packs.images.store import ImageRecord
from offload.packs.uploads import UploadData


def start(data: UploadData, ctx: JobContext) -> dict[str, Any]:
    """Register the upload and start the pipeline; a duplicate event for the same version does nothing."""
    pipeline = ImagePipeline(ctx.runtime)
    arn = pipeline.settings.pipeline_arn
    if not arn:
        raise NonRetryableError("the images pack's settings have no pipeline_arn: the image pipeline is not deployed")
    upload = data.model_dump()
    record = new_record(ImageRecord, upload)
    if data.size == 0:
        return fail_empty(pipeline.store, record, "inspect")
    return start_pipeline(
        pipeline.store,
        record,
        ctx.runtime.clients.client("stepfunctions"),
        machine_arn=arn,
        name=execution_name("img", upload),
        payload={"image": upload},
    )
