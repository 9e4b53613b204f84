"""The images pack: uploads under uploads/images/ -> `image.process` -> the image pipeline state machine."""

from __future__ import annotations

from offload.catalog import Backoff, Catalog, JobType, Pack, QueueSpec, RateLimit, S3Trigger

# The state machine's steps, in order ("fail" is the Catch target): the construct and the step code share this.
# "moderate" runs only when the catalog has the moderation pack (`pipeline_steps`).
STEPS = ("inspect", "moderate", "metadata", "variants", "embed", "index", "complete", "fail")
OPTIONAL_STEPS = {"moderate": "moderation"}  # step -> the pack that brings it

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


def pipeline_steps(catalog: Catalog) -> tuple[str, ...]:
    """The state machine's task steps in order (without "fail"), for the packs this catalog has."""
    return tuple(
        s for s in STEPS if s != "fail" and (s not in OPTIONAL_STEPS or catalog.pack(OPTIONAL_STEPS[s]) is not None)
    )
