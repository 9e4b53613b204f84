"""The generate pack: `video.generate` turns a prompt (or ready scenes) into a published video.

script -> scene images (Map) -> clips from a provider (Map: submit -> Wait -> poll, in Step Functions)
-> merge with ffmpeg -> the video pipeline (MP4, HLS, poster) -> the job completes. The job is handed to
the execution (offload.jobs.handoff), so `offload jobs get --watch` follows it to the end.
See docs/generate.md.

An app takes the defaults (`from offload.packs import generate`, the local provider) or its own:
`generate_pack(provider="openai", model="...", base_url="https://gateway.example/v1")`.
"""

from __future__ import annotations

from typing import Any

from offload.catalog import Backoff, JobType, Pack, QueueSpec, RateLimit

# The state machine's Lambda steps: the construct and the step code share this.
STEPS = ("script", "image", "submit", "poll", "download", "clip_failed", "merge", "publish_poll", "complete", "fail")
# Seed 002: video generation requests, 10 per minute across every worker and execution.
PROVIDER_LIMIT = "video-provider"
WORK_PREFIX = "generated/"

pack = Pack(
    "generate",
    description="AI video generation: script, scene images, provider clips polled from Step Functions, merge, "
    "and the video pipeline's MP4/HLS/poster (seeds 001 and 002).",
    queues=(
        # The job only starts the execution and hands itself to it; the work runs in the state machine.
        QueueSpec("generate", concurrency=2, attempts=3, backoff=Backoff("exponential", 2.0), timeout_s=60),
    ),
    job_types=(
        JobType(
            "video.generate",
            queue="generate",
            processor="offload.packs.generate.starter:start_generation",
            description="Generate a video from a prompt or a list of scenes; completes when it is published.",
        ),
    ),
    resource_limits={PROVIDER_LIMIT: RateLimit(10, 60)},
    on_finish=("offload.packs.generate.hooks:on_job_finished",),
    infra="offload.packs.generate.infra:GeneratePipeline",
    cli="offload.packs.generate.cli:app",
)


def generate_pack(**options: Any) -> Pack:
    """The generate pack with options (offload.packs.generate.options.GenerateOptions fields), validated now."""
    from offload.packs.generate.options import GenerateOptions

    return pack.with_options(GenerateOptions, options)
