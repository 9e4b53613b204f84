"""Search indexing: content changed since it was last indexed is re-embedded and upserted into the vector index.

Only the `VectorIndex` port's upsert/delete/query are used, so any adapter behind it works (the S3 JSON
index here; S3 Vectors the same way). Deleted content is removed from the index. An item is marked indexed
as of the `updated_at` it was embedded from, conditionally, so an edit made while the job runs is picked up
by the next run rather than lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from offload.packs.social.store import SocialStore

if TYPE_CHECKING:
    from offload.ai.ports import Embedder, VectorIndex
    from offload.runtime import Runtime

EMBED_BATCH = 32


def vector_index_of(rt: Runtime, prefix: str) -> VectorIndex:
    """The social search index: the S3 vector index in the payload bucket under `prefix`."""
    from offload.ai.vector_index import S3VectorIndex

    return S3VectorIndex(rt.clients.s3, rt.settings.payload_bucket, prefix=prefix)


def embedder_of(rt: Runtime) -> Embedder:
    """The configured embedder (OpenAI-compatible with a key, else the local one)."""
    from offload.ai.factory import AiSettings, providers_from_settings

    return providers_from_settings(AiSettings.from_env(), rt.clients.secrets).embedder


def index_changed(
    store: SocialStore,
    rt: Runtime,
    prefix: str,
    *,
    limit: int | None = None,
    index: VectorIndex | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Embed and upsert every changed item (delete the deleted ones); counts of what was done."""
    changed = sorted(store.changed_content(), key=lambda r: r["updated_at"])[:limit]
    index = index or vector_index_of(rt, prefix)
    gone = [r for r in changed if r.get("deleted")]
    live = [r for r in changed if not r.get("deleted")]
    for row in gone:
        index.delete(row["content_id"])
    if live:
        embedder = embedder or embedder_of(rt)
    stale = 0
    for start in range(0, len(live), EMBED_BATCH):
        batch = live[start : start + EMBED_BATCH]
        assert embedder is not None
        vectors = embedder.embed([r["text"] for r in batch])
        for row, vector in zip(batch, vectors, strict=True):
            index.upsert(row["content_id"], vector, {"author_id": row["author_id"], "text": row["text"][:200]})
    for row in changed:
        stale += not store.mark_indexed(row["content_id"], row["updated_at"])
    return {"upserted": len(live), "deleted": len(gone), "changed_meanwhile": stale}
