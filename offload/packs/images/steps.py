"""The image pipeline's steps: inspect -> (moderate) -> metadata -> variants -> embed -> index -> complete (| fail).

Each step is one Lambda task of the state machine (functions/pipeline/handler.py). A step
takes the execution state and returns it with its own output added; the state carries ids
and small facts only (the original and the variants live in S3). Errors leave a step as one
of three names the state machine knows: RetryableError and RateLimitedError are retried with
backoff, NonRetryableError goes straight to the fail step.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from offload.ai.ports import VectorIndex
from offload.errors import NonRetryableError
from offload.jobs.notify import Alert, publish_alert
from offload.observability import logger
from offload.packs.images.settings import ImagesSettings, images_settings
from offload.packs.images.store import ImageRecord, ImageStatus, ImageStore, version_tag
from offload.packs.images.vectors import ImageVectors, IndexRef
from offload.runtime import Runtime
from offload.settings import SettingsError

VARIANT_PREFIX = "variants/"
CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass
class ImagePipeline:
    """The resources the steps use, built once per Lambda container."""

    rt: Runtime
    ai_api_key: str | None = None

    @cached_property
    def store(self) -> ImageStore:
        return ImageStore(self.rt.clients.dynamodb, self.settings.images_table)

    @cached_property
    def providers(self) -> Any:
        from offload.ai.factory import AiSettings, providers_from_settings

        return providers_from_settings(AiSettings.from_env(), self.rt.clients.secrets)

    @cached_property
    def vectors(self) -> ImageVectors:
        """The vector indexes (S3 Vectors or S3 JSON, as the pack's settings choose) and the active pointer."""
        s3vectors = self.rt.clients.client("s3vectors") if self.settings.vector_index == "s3vectors" else None
        return ImageVectors(self.settings, self.rt.clients.s3, s3vectors)

    @cached_property
    def _ensured(self) -> set[str]:
        return set()

    def index_for(self, ref: IndexRef) -> VectorIndex:
        """The index `ref` names, created first if this container has not made sure it exists yet."""
        if ref.name not in self._ensured:
            self.vectors.ensure(ref)
            self._ensured.add(ref.name)
        return self.vectors.open(ref)

    @cached_property
    def settings(self) -> ImagesSettings:
        try:
            return images_settings(self.rt)
        except SettingsError as exc:
            raise NonRetryableError(str(exc)) from None

    @property
    def media_bucket(self) -> str:
        return self.settings.media_bucket

    def original(self, image: dict[str, Any]) -> bytes:
        """The uploaded object, the exact version the event named."""
        kwargs = {"Bucket": image["bucket"], "Key": image["key"]}
        if image.get("version_id"):
            kwargs["VersionId"] = image["version_id"]
        return bytes(self.rt.clients.s3.get_object(**kwargs)["Body"].read())

    def record(self, state: dict[str, Any], status: ImageStatus, **fields: Any) -> ImageRecord | None:
        """Move the execution's image record to `status` with `fields`: one conditional write, refused
        (None) when the lifecycle forbids it or the record is now about another version of the object."""
        image = state["image"]
        return self.store.update(image["key"], status, version=version_tag(image), **fields)

    def run(self, step: str, state: dict[str, Any]) -> dict[str, Any]:
        """Run one step; errors leave as RetryableError, RateLimitedError or NonRetryableError."""
        from offload.media.pipeline import run_step

        return run_step(self, _HANDLERS, step, state, log_keys={"image_key": state.get("image", {}).get("key")})


def _inspect(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    from offload.media.facts import DEFAULT_MAX_BYTES, ImageInputError, probe

    image = state["image"]
    size = int(image.get("size") or 0)
    if size > DEFAULT_MAX_BYTES:
        raise ImageInputError("too_many_bytes", f"upload is {size} bytes, over the {DEFAULT_MAX_BYTES}-byte limit")
    source = probe(p.original(image))
    p.record(
        state,
        "processing",
        format=source.format,
        width=source.width,
        height=source.height,
        frames=source.frames,
        size=source.byte_size,
    )
    return {**state, "source": {"format": source.format, "width": source.width, "height": source.height}}


def _moderate(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    """The moderation pack's step: score the original; a flagged image goes on through the pipeline, but
    its outputs are held back (not served) until a reviewer approves it."""
    from offload.packs.moderation.service import Moderation

    record = Moderation(p.rt).image(state["image"]["key"], p.original(state["image"]))
    return {**state, "moderation": {"status": record.status, "verdict": record.verdict}}


def _metadata(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    providers = p.providers
    if not providers.is_local:
        limit = p.rt.catalog.resource_limits.get("openai")
        if limit is not None and p.rt.rate_limiter is not None:
            p.rt.rate_limiter.acquire_or_raise("openai", limit)
    from offload.media.facts import mime_type

    # The original: each analyzer decodes it the one way `inspect` did (the OpenAI one sends its vision copy).
    content_type = mime_type(state["source"]["format"])
    meta = providers.vision.describe(p.original(state["image"]), content_type=content_type)
    doc = meta.model_dump(mode="json")
    p.record(state, "processing", metadata=doc)
    return {**state, "metadata": doc}


def _variants(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    from offload.media.images import make_variants

    image = state["image"]
    made = make_variants(p.original(image))
    stem = posixpath.splitext(image["key"].removeprefix("uploads/"))[0]
    listed = []
    for v in made.all:
        key = f"{VARIANT_PREFIX}{stem}/{v.name}"
        p.rt.clients.s3.put_object(
            Bucket=p.media_bucket, Key=key, Body=v.data, ContentType=v.content_type, CacheControl=CACHE_CONTROL
        )
        listed.append(
            {"kind": v.kind, "width": v.width, "height": v.height, "format": v.format, "bytes": v.byte_size, "key": key}
        )
    p.record(state, "processing", variants=listed)
    return {**state, "variants": listed}


def embedding_text(metadata: dict[str, Any]) -> str:
    """What is embedded for search: the description, tags, category, mood and colours."""
    parts = [
        metadata.get("description", ""),
        " ".join(metadata.get("tags", [])),
        metadata.get("category", ""),
        metadata.get("mood", ""),
    ]
    return ". ".join(p for p in parts if p)


def _embed(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    embedder = p.providers.embedder
    [vector] = embedder.embed([embedding_text(state["metadata"])])
    return {**state, "embedding": {"model": embedder.model, "dimensions": len(vector), "vector": vector}}


def index_metadata(metadata: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """What a vector carries besides its key: display fields (description, thumbnail: not filterable on
    S3 Vectors) and filterable ones (status, tags, category, mood, format). Search filters name these."""
    thumb = next((v["key"] for v in variants if v["kind"] == "thumbnail"), None)
    return {
        "description": metadata.get("description"),
        "thumbnail": thumb,
        "status": "indexed",
        "tags": metadata.get("tags", []),
        "category": metadata.get("category"),
        "mood": metadata.get("mood"),
    }


def _index(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    embedding = state["embedding"]
    # The index of the model that made this vector: during a re-index that is the new index, which the
    # re-index job fills too; search switches to it when the job is done.
    ref = IndexRef.for_model(embedding["model"], int(embedding["dimensions"]))
    p.index_for(ref).upsert(
        state["image"]["key"], embedding["vector"], index_metadata(state["metadata"], state.get("variants", []))
    )
    embedding = {k: v for k, v in state["embedding"].items() if k != "vector"}
    return {**{k: v for k, v in state.items() if k != "embedding"}, "embedding": embedding}


def _complete(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    done = p.record(state, "completed", embedding=state.get("embedding"))
    logger.info("image completed", image_key=state["image"]["key"], variants=len(state.get("variants", [])))
    return {**state, "status": "completed" if done else "unchanged"}


def _fail(p: ImagePipeline, state: dict[str, Any]) -> dict[str, Any]:
    """The Catch target: record the failed step and reason, alert the admins."""
    from offload.media.records import failure

    step, reason = failure(state)
    key = state["image"]["key"]
    p.record(state, "failed", error={"step": step, "reason": reason})
    logger.error("image failed", image_key=key, failed_step=step, reason=reason)
    try:
        publish_alert(p.rt.clients.sns, p.rt.settings.alert_topic_arn, image_alert(state["image"], step, reason))
    except Exception:
        logger.exception("could not publish the image failure alert")
    return {**state, "status": "failed", "reason": reason}


_HANDLERS: dict[str, Callable[[ImagePipeline, dict[str, Any]], dict[str, Any]]] = {
    "inspect": _inspect,
    "moderate": _moderate,
    "metadata": _metadata,
    "variants": _variants,
    "embed": _embed,
    "index": _index,
    "complete": _complete,
    "fail": _fail,
}


def image_alert(image: dict[str, Any], step: str, reason: str) -> Alert:
    """The admins' alert for an upload whose pipeline failed; the original is never touched."""
    from offload.media.records import upload_alert

    return upload_alert("image", "image pipeline", image, step, reason, "offload images get")
