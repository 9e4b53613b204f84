"""Semantic search over indexed images, and image records by upload key."""

from __future__ import annotations

from typing import Any

from offload.packs.images.steps import ImagePipeline
from offload.packs.images.store import ImageRecord, version_tag
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


class ImageCancelError(RuntimeError):
    """The image can't be cancelled; the message says why."""


def cancel_image(rt: Runtime, key: str) -> ImageRecord:
    """Stop a pending or running pipeline: the execution is stopped and the record ends `cancelled`."""
    store = ImagePipeline(rt).store
    record = store.get(key)
    if record is None:
        raise ImageCancelError(f"no image record for {key!r}")
    if record.status in ("completed", "failed", "cancelled"):
        raise ImageCancelError(f"image {key!r} is already {record.status}; only pending or processing images stop")
    cancelled = store.update(
        key,
        "cancelled",
        version=version_tag(record.model_dump()),
        error={"step": record.status, "reason": "cancelled by an operator"},
    )
    if cancelled is None:
        raise ImageCancelError(f"image {key!r} changed while cancelling it; check it with `offload images get`")
    if record.execution_arn:
        rt.clients.client("stepfunctions").stop_execution(
            executionArn=record.execution_arn, cause="cancelled by an operator"
        )
    return cancelled
