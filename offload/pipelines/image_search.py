"""Semantic search over indexed images, and image records by upload key."""

from __future__ import annotations

from typing import Any

from offload.pipelines.image_store import ImageRecord
from offload.pipelines.images import ImagePipeline
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
