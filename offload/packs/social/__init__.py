"""The social pack: trending (a time-decayed engagement score), feed fan-out on write, and search indexing.
See docs/payments.md ("Social").

`from offload.packs import social` takes the defaults; `social_pack(half_life_hours=12, top_n=50)` others.
"""

from __future__ import annotations

from typing import Any

from offload.catalog import JobType, Pack, Schedule

_JOBS = "offload.packs.social.jobs"
# Social jobs are ordinary I/O work: they run on the core pack's `default` queue rather than a queue of their
# own, because every queue adds its URLs to every function's environment and the generate pack's functions are
# at 4,002 of Lambda's 4,096 bytes (docs/payments.md, "Why social has no queue").
QUEUE = "default"

pack = Pack(
    "social",
    description="Trending by time-decayed engagement, feed fan-out on write in batches, search re-indexing.",
    job_types=(
        JobType(
            "social.trending",
            queue=QUEUE,
            processor=f"{_JOBS}:trending",
            description="Score the window's engagement with time decay and keep the top N.",
        ),
        JobType(
            "social.feed_update",
            queue=QUEUE,
            processor=f"{_JOBS}:feed_update",
            description="Write a post into its author's followers' feeds (big audiences split into child jobs).",
        ),
        JobType(
            "social.search_index",
            queue=QUEUE,
            processor=f"{_JOBS}:search_index",
            description="Re-embed changed content and upsert it into the vector index.",
        ),
    ),
    schedules=(
        Schedule(
            "weekly-trending",
            "0 10 ? * MON *",
            "social.trending",
            description="Weekly, Monday 10:00 UTC: the week's trending list",
        ),
    ),
    infra="offload.packs.social.infra:SocialResources",
    cli="offload.packs.social.cli:app",
)


def social_pack(**options: Any) -> Pack:
    """The social pack with options (offload.packs.social.options.SocialOptions fields), validated now."""
    from offload.packs.social.options import SocialOptions

    return pack.with_options(SocialOptions, options)
