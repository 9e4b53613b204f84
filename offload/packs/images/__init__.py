"""The images pack: uploads under uploads/images/ -> `image.process` -> the image pipeline state machine;
`image.reindex` re-embeds the indexed images into a new vector index when the embedder changes.

An app takes the defaults (`from offload.packs import images`: search on Amazon S3 Vectors) or chooses the
index: `images_pack(vector_index="s3json")` (docs/vector-search.md says when that is the better choice).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from offload.catalog import Backoff, Catalog, JobType, Pack, QueueSpec, RateLimit, S3Trigger

# The state machine's steps, in order ("fail" is the Catch target): the construct and the step code share this.
# "moderate" runs only when the catalog has the moderation pack (`pipeline_steps`).
STEPS = ("inspect", "moderate", "metadata", "variants", "embed", "index", "complete", "fail")
OPTIONAL_STEPS = {"moderate": "moderation"}  # step -> the pack that brings it
REINDEX_QUEUE = "images-reindex"
VectorBackend = Literal["s3vectors", "s3json"]


class ImagesOptions(BaseModel):
    """The images pack's options (`images_pack(...)`), read by its construct."""

    model_config = ConfigDict(extra="forbid")

    vector_index: VectorBackend = Field(
        default="s3vectors",
        description="s3vectors: an Amazon S3 Vectors index (the default); s3json: one JSON object per vector in "
        "the media bucket, ranked in the function (small indexes, or where S3 Vectors is not offered)",
    )


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
        # SQS's smallest maximumConcurrency is 2: the run's lease (offload.packs.images.reindex) keeps it to one
        # at a time; a run that outlasts one invocation continues in a follow-up job.
        QueueSpec(
            REINDEX_QUEUE, concurrency=2, attempts=3, backoff=Backoff("exponential", 5.0), timeout_s=900, memory_mb=2048
        ),
    ),
    job_types=(
        JobType(
            "image.process",
            queue="images",
            processor="offload.packs.images.starter:start",
            description="An upload under uploads/images/: register it and start the image pipeline.",
        ),
        JobType(
            "image.reindex",
            queue=REINDEX_QUEUE,
            processor="offload.packs.images.reindex:reindex",
            description="Re-embed every indexed image with the configured embedder into its own vector index, "
            "then make that index the one search uses (resumable; `offload images reindex`).",
        ),
    ),
    s3_triggers=(S3Trigger("uploads/images/", "image.process"),),
    resource_limits={"openai": RateLimit(10, 60)},
    message_kinds=("offload.packs.uploads:adopt_s3_notification",),
    infra="offload.packs.images.infra:ImagePipeline",
    cli="offload.packs.images.cli:app",
)


def images_pack(**options: Any) -> Pack:
    """The images pack with options (ImagesOptions fields), validated now."""
    return pack.with_options(ImagesOptions, options)


def pipeline_steps(catalog: Catalog) -> tuple[str, ...]:
    """The state machine's task steps in order (without "fail"), for the packs this catalog has."""
    return tuple(
        s for s in STEPS if s != "fail" and (s not in OPTIONAL_STEPS or catalog.pack(OPTIONAL_STEPS[s]) is not None)
    )
