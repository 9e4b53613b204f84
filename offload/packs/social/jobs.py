"""The social pack's processors: trending, fan-out of a post to its followers' feeds, and search indexing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.observability import logger


class TrendingData(BaseModel):
    top_n: int | None = Field(default=None, ge=1, le=1000, description="default: the pack's top_n")


def trending(data: TrendingData, ctx: JobContext) -> dict[str, Any]:
    """Score the window's engagement events with time decay and keep the top N as `trending/latest`."""
    from offload.packs.social.settings import social_settings, store_of
    from offload.packs.social.trending import trending_scores

    rt = ctx.runtime
    options = social_settings(rt).chosen
    store = store_of(rt)
    now = datetime.now(UTC)
    events = store.events_since(now, options.window_days)
    top = trending_scores(
        events,
        now=now,
        half_life_s=options.half_life_hours * 3600,
        weights=options.weights,
        top_n=data.top_n or options.top_n,
    )
    generated_at = now.isoformat()
    stored = [{**item, "score": Decimal(str(item["score"]))} for item in top]  # DynamoDB numbers are exact
    for sk in ("latest", generated_at):
        store.put({"pk": "trending", "sk": sk, "generated_at": generated_at, "items": stored, "events": len(events)})
    return {"generated_at": generated_at, "events": len(events), "top": top[:10]}


class FeedData(BaseModel):
    post_id: str = Field(min_length=1)
    start_after: str | None = Field(default=None, description="a child job: the follower id to start after")
    max_followers: int | None = Field(default=None, ge=1, description="a child job: how many followers it covers")


def feed_update(data: FeedData, ctx: JobContext) -> dict[str, Any]:
    """Write a post into each follower's feed (fan-out on write), or split a big audience into child jobs."""
    from offload.packs.social.feed import fan_out, split_into_children
    from offload.packs.social.settings import social_settings, store_of

    rt = ctx.runtime
    options = social_settings(rt).chosen
    store = store_of(rt)
    post = store.get(f"content#{data.post_id}", "content")
    if post is None:
        raise NonRetryableError(f"no post {data.post_id!r} in the social table: add it first (offload social post)")
    if data.max_followers is None:
        children = split_into_children(store, rt, post, options.fanout_child_size)
        if children:
            return {"post_id": data.post_id, "children": children, "split_by": options.fanout_child_size}
    return fan_out(
        store, ctx, post, page_size=options.fanout_page, start_after=data.start_after, limit=data.max_followers
    )


class SearchIndexData(BaseModel):
    limit: int | None = Field(default=None, ge=1, description="index at most this many items this run")


def search_index(data: SearchIndexData, ctx: JobContext) -> dict[str, Any]:
    """Re-embed content changed since it was last indexed and upsert it (or delete it) in the vector index."""
    from offload.packs.social.search import index_changed
    from offload.packs.social.settings import social_settings, store_of

    rt = ctx.runtime
    options = social_settings(rt).chosen
    outcome = index_changed(store_of(rt), rt, options.vector_prefix, limit=data.limit)
    logger.info("search index updated", **outcome)
    return outcome
