"""The video pack: uploads under uploads/videos/, uploads/audio/ and uploads/live/<stream>/ ->
`video.process` / `audio.process` / `live.segment` on the `video` queue -> the video pipeline
state machine (probe -> plan -> Map of transcode segments -> Map of joins -> package).

An app takes the defaults (`from offload.packs import video`) or its own options:
`video_pack(limits=Limits(max_duration_s=600), loudness_normalise=True)`.
"""

from __future__ import annotations

from typing import Any

from offload.catalog import Backoff, JobType, Pack, QueueSpec, S3Trigger

# The state machine's Lambda steps ("fail" is the Catch target): the construct and the step code share this.
# "moderate" (before "plan", for videos) runs only when the catalog has the moderation pack.
STEPS = (
    "probe",
    "moderate",
    "plan",
    "transcode",
    "join",
    "package",
    "audio",
    "live_segment",
    "live_end",
    "complete",
    "fail",
)
# What the probe step decides the execution is: the state machine's Choice routes on `$.kind`.
KINDS = ("video", "audio", "live_segment", "live_end")
UPLOAD_PREFIXES = {"video": "uploads/videos/", "audio": "uploads/audio/", "live": "uploads/live/"}
OUTPUT_PREFIX = "videos/"

pack = Pack(
    "video",
    description="Video and audio transcoding (MP4, WebM, HLS, posters, sprites, audio, watermarks) and live-stream "
    "recordings, with a static ffmpeg layer (seed 003).",
    queues=(
        # Seed 003: video concurrency 2. The job only registers the upload and starts an execution;
        # the transcoding runs in the state machine's Map, whose concurrency is the pack's option.
        QueueSpec("video", concurrency=2, attempts=3, backoff=Backoff("exponential", 2.0), timeout_s=60, memory_mb=512),
    ),
    job_types=(
        JobType(
            "video.process",
            queue="video",
            processor="offload.packs.video.starter:start_video",
            description="An upload under uploads/videos/: register it and start the video pipeline.",
        ),
        JobType(
            "audio.process",
            queue="video",
            processor="offload.packs.video.starter:start_audio",
            description="An upload under uploads/audio/: register it and start the audio branch of the pipeline.",
        ),
        JobType(
            "live.segment",
            queue="video",
            processor="offload.packs.video.starter:start_live",
            description="A live stream's recorded segment (or its END marker) under uploads/live/<stream>/.",
        ),
    ),
    s3_triggers=(
        S3Trigger(UPLOAD_PREFIXES["video"], "video.process"),
        S3Trigger(UPLOAD_PREFIXES["audio"], "audio.process"),
        S3Trigger(UPLOAD_PREFIXES["live"], "live.segment"),
    ),
    message_kinds=("offload.packs.uploads:adopt_s3_notification",),
    infra="offload.packs.video.infra:VideoPipeline",
    cli="offload.packs.video.cli:app",
)


def video_pack(**options: Any) -> Pack:
    """The video pack with options (offload.media.video.plan.VideoOptions fields), validated now."""
    from offload.media.video.plan import VideoOptions

    return pack.with_options(VideoOptions, options)
