"""The moderation pack: `moderate.text`, `moderate.image`, `moderate.video`, `moderation.report` and
`moderation.appeal` on the `moderation` queue, a moderation table, and a `moderate` step in the image
and video pipelines when the pack is in the catalog. Flagged content is held back: its outputs are not
served until a reviewer approves it. See docs/moderation.md.

An app takes the defaults (`from offload.packs import moderation`) or its own thresholds:
`moderation_pack(thresholds={"sexual": 0.5, "violence": 0.7}, default=0.5, unchecked="hold")`.
"""

from __future__ import annotations

from typing import Any

from offload.catalog import Backoff, JobType, Pack, QueueSpec

PACK = "moderation"
# The packs whose records moderation marks, by item kind: an image's or a video's outputs are held back.
MEDIA_PACKS: dict[str, str] = {"image": "images", "video": "video"}

pack = Pack(
    PACK,
    description="Moderation of text, images and sampled video frames (OpenAI omni-moderation or an honest local "
    "word list), per-category thresholds, user reports with escalation, and reviewer decisions (seed 003).",
    queues=(QueueSpec("moderation", concurrency=5, attempts=3, backoff=Backoff("exponential", 1.0), timeout_s=300),),
    job_types=(
        JobType(
            "moderate.text",
            queue="moderation",
            processor="offload.packs.moderation.jobs:moderate_text",
            description="Score a text against the catalog's thresholds and record the verdict.",
        ),
        JobType(
            "moderate.image",
            queue="moderation",
            processor="offload.packs.moderation.jobs:moderate_image",
            description="Score an image of the media bucket; a flagged image's outputs are held back.",
        ),
        JobType(
            "moderate.video",
            queue="moderation",
            processor="offload.packs.moderation.jobs:moderate_video",
            description="Score frames sampled across a video; any frame over a threshold flags the video.",
        ),
        JobType(
            "moderation.report",
            queue="moderation",
            processor="offload.packs.moderation.jobs:report",
            description="A user's report; enough distinct reporters escalate the item (held + admin alert).",
        ),
        JobType(
            "moderation.appeal",
            queue="moderation",
            processor="offload.packs.moderation.jobs:appeal",
            description="A human decision on an appeal (approve or reject, with reviewer and note), kept in history.",
        ),
    ),
    infra="offload.packs.moderation.infra:ModerationTable",
    cli="offload.packs.moderation.cli:app",
)


def moderation_pack(**options: Any) -> Pack:
    """The moderation pack with options (offload.packs.moderation.options.ModerationOptions fields), validated now."""
    from offload.packs.moderation.options import ModerationOptions

    return pack.with_options(ModerationOptions, options)
