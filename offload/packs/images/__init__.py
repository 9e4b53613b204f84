"""The images pack: uploads under uploads/images/ -> `image.process` -> the image pipeline state machine."""

from __future__ import annotations

from offload.catalog import Backoff, JobType, Pack, QueueSpec, RateLimit, S3Trigger

# The state machine's steps, in order ("fail" is the Catch target): the construct and the step code share this.
STEPS = ("inspect", "metadata", "variants", "embed", "index", "complete", "fail")

pack = Pack(
    "images",
    description="AI metadata, responsive WebP/AVIF variants, embeddings and search for uploaded images (seed 004).",
    queues=(
        QueueSpec(
            "images",
            concurrency=5,
            attempts=3,
            backoff=Backoff("exponential", 1.0),
            rate_limit=RateLimit(10, 60),
            timeout_s=300,
            memory_mb=2048,
        ),
    ),
    job_types=(
        JobType(
            "image.process",
            queue="images",
            processor="offload.packs.images.starter:start",
            description="An upload under uploads/images/: register it and start the image pipeline.",
        ),
    ),
    s3_triggers=(S3Trigger("uploads/images/", "image.process"),),
    resource_limits={"openai": RateLimit(10, 60)},
    message_kinds=("offload.packs.uploads:adopt_s3_notification",),
    infra="offload.packs.images.infra:ImagePipeline",
    cli="offload.packs.images.cli:app",
)
