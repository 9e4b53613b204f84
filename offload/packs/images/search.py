"""Semantic search over indexed images, and image records by upload key."""

from __future__ import annotations

from typing import Any

from offload.media.records import cancel_record
from offload.packs.images.steps import ImagePipeline
from offload.packs.images.store import ImageRecord
from offload.runtime import Runtime


def search(rt: Runtime, query: str, limit: int = 10) -> list[dict[str, Any]]:
    """The indexed images nearest to a text query, best first, with cosine scores."""
    if not query.strip():
        raise ValueError("the search query is empty: describe what you are looking for")
    pipeline = ImagePipeline(rt)
    [vector] = pipeline.providers.embedder.embed([query])
    return [{"key": m.key, "score": round(m.score, 4), **m.metadata} for m in pipeline.index.query(vector, limit=limit)]


def get_image(rt: Runtime, key: str) -> ImageRecord | None:
    """The record of an upload key (status, reason, metadata, variants)."""
    return ImagePipeline(rt).store.get(key)


def cancel_image(rt: Runtime, key: str) -> ImageRecord:
    """Stop a pending or running pipeline: the execution is stopped and the record ends `cancelled`."""
    return cancel_record(
        ImagePipeline(rt).store,
        rt.clients.client("stepfunctions"),
        key,
        noun="image",
        get_command=f"offload images get {key}",
    )
