"""Semantic search over indexed images, and image records by upload key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from offload.ai.ports import Embedder
from offload.ai.vector_filter import FilterError, check_filter, equals_filter
from offload.media.records import cancel_record
from offload.packs.images.steps import ImagePipeline
from offload.packs.images.store import ImageRecord
from offload.packs.images.vectors import IndexRef
from offload.runtime import Runtime


def search(rt: Runtime, query: str, limit: int = 10, filter: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The indexed images nearest to a text query, best first, with cosine scores; with `filter`
    (e.g. {"status": "indexed"}, offload.ai.vector_filter syntax) only those whose metadata passes it.

    The query is embedded with the model of the active index (which a re-index switches when done)."""
    if not query.strip():
        raise ValueError("the search query is empty: describe what you are looking for")
    if filter:
        check_filter(filter)
    pipeline = ImagePipeline(rt)
    configured = pipeline.providers.embedder
    active = pipeline.vectors.active(IndexRef.for_embedder(configured))
    embedder = configured if configured.model == active.model else _embedder_of(pipeline, active)
    [vector] = embedder.embed([query])
    try:
        matches = pipeline.vectors.open(active).query(vector, limit=limit, filter=filter)
    except LookupError:
        return []  # nothing was indexed yet: the configured embedder's index is made by the first upload
    return [{"key": m.key, "score": round(m.score, 4), **m.metadata} for m in matches]


def search_filter(
    *, status: str | None = None, tag: str | None = None, where: Mapping[str, str] | None = None, raw: str | None = None
) -> dict[str, Any] | None:
    """The metadata filter the CLI and API build from their options: equality on `status`, a `tag` among the
    tags, `where` fields (e.g. {"moderation": "approved"}) and a raw JSON filter, all of them required."""
    fields: dict[str, Any] = dict(where or {})
    if status:
        fields["status"] = status
    if tag:
        fields["tags"] = tag  # equality on a list field: any of its items
    parts = [p for p in (equals_filter(fields), _parse_raw(raw)) if p]
    if not parts:
        return None
    flt = parts[0] if len(parts) == 1 else {"$and": parts}
    check_filter(flt)
    return flt


def _parse_raw(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FilterError(f'the filter is not JSON ({exc.msg}): e.g. \'{{"tags": {{"$in": ["cat"]}}}}\'') from None
    if not isinstance(parsed, dict):
        raise FilterError(f"the filter must be a JSON object, got {raw!r}")
    return parsed


def _embedder_of(pipeline: ImagePipeline, ref: IndexRef) -> Embedder:
    from offload.ai.factory import AiSettings, embedder_for_model

    return embedder_for_model(ref.model, ref.dimensions, AiSettings.from_env(), pipeline.rt.clients.secrets)


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
