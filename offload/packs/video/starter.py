"""video.process / audio.process / live.segment: an upload becomes a pending record and one
execution of the video pipeline per object version.

These jobs run on the `video` queue (concurrency 2): they only register and start, so a backlog of
uploads waits in SQS and the transcoding runs in the state machine's Map.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.media.records import execution_name, fail_empty, new_record, start_pipeline
from offload.media.video.plan import WatermarkSpec
from offload.packs.uploads import UploadData
from offload.packs.video.steps import VideoPipeline
from offload.packs.video.store import VideoKind, VideoRecord

if TYPE_CHECKING:
    from offload.runtime import Runtime

# A live stream's last object: `uploads/live/<stream>/END` (any case, any extension) ends it.
LIVE_END_NAMES = ("end",)


class MediaUpload(UploadData):
    """An upload, plus what a job (not the S3 event) may ask for: a watermark, loudness normalisation."""

    watermark: WatermarkSpec | None = None
    loudness_normalise: bool | None = None


def start_video(data: MediaUpload, ctx: JobContext) -> dict[str, Any]:
    """An upload under uploads/videos/ (an audio-only file there is handled as audio: see docs/video.md)."""
    return _start(data, ctx, kind="video")


def start_audio(data: MediaUpload, ctx: JobContext) -> dict[str, Any]:
    """An upload under uploads/audio/: AAC, Opus and MP3 outputs and a waveform."""
    return _start(data, ctx, kind="audio")


def start_live(data: UploadData, ctx: JobContext) -> dict[str, Any]:
    """A live stream's recorded segment under uploads/live/<stream>/, or its END marker."""
    from offload.packs.video.live import start_live_object

    return start_live_object(VideoPipeline(ctx.runtime), data, ctx)


def _start(data: MediaUpload, ctx: JobContext, *, kind: VideoKind) -> dict[str, Any]:
    return start_media(ctx.runtime, data.model_dump(mode="json", exclude_none=True), kind=kind)


def start_media(rt: Runtime, upload: dict[str, Any], *, kind: VideoKind = "video") -> dict[str, Any]:
    """Register `upload` (an UploadData dict: bucket, key, size, version_id/etag) and start the video
    pipeline on it; the generate pack hands its merged videos over the same way."""
    pipeline = VideoPipeline(rt)
    arn = pipeline.settings.pipeline_arn
    if not arn:
        raise NonRetryableError("the video pack's settings have no pipeline_arn: the video pipeline is not deployed")
    record = new_record(VideoRecord, upload, kind=kind, stage="probe")
    if upload.get("size") == 0:
        return fail_empty(pipeline.store, record, "probe")
    return start_pipeline(
        pipeline.store,
        record,
        rt.clients.client("stepfunctions"),
        machine_arn=arn,
        name=execution_name("vid", upload),
        payload={"video": upload, "kind": kind},
    )


def is_live_end(key: str) -> bool:
    """Whether an object under uploads/live/<stream>/ is the stream's END marker."""
    return posixpath.splitext(posixpath.basename(key))[0].lower() in LIVE_END_NAMES
