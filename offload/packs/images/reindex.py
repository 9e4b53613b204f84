"""image.reindex: re-embed every indexed image with the configured embedder into that embedder's own index,
then switch search to it.

Search keeps using the active index (offload.packs.images.vectors) for the whole run: the new index is
filled beside it and the pointer moves only once every record is in. The run's state (target index,
a DynamoDB scan cursor, counts) lives in `index/reindex.json` in the media bucket and is written after
every batch, so a retried attempt resumes where the last one stopped, and a run longer than one
invocation hands over to a follow-up job before its deadline. `offload images reindex` starts a run and
shows its progress from that state.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from offload.ai.ports import VectorIndex
from offload.jobs.context import JobContext
from offload.observability import logger
from offload.packs.images.steps import ImagePipeline, embedding_text, index_metadata
from offload.packs.images.vectors import IndexRef
from offload.runtime import Runtime

STATE_KEY = "index/reindex.json"
BATCH = 100  # records per scan page, embedded in one call and written in one PutVectors
HANDOVER_MARGIN_S = 60.0  # hand over to a follow-up job when less than this is left of the attempt
LEASE_S = 120.0  # a run's owner writes its state at least this often (every batch); older: the run is free

RunStatus = Literal["running", "completed"]


class ReindexData(BaseModel):
    """What `image.reindex` takes: nothing to start or resume the run for the configured embedder."""

    model_config = ConfigDict(extra="forbid")

    restart: bool = Field(default=False, description="start over instead of resuming a run of the same target")


@dataclass
class ReindexState:
    """A run: its target index, where the scan stands, and how far it got."""

    target: dict[str, Any]
    status: RunStatus = "running"
    cursor: dict[str, Any] | None = None
    done: int = 0
    total: int = 0
    jobs: list[str] = field(default_factory=list)
    started_at: str = ""
    finished_at: str | None = None
    previous: dict[str, Any] | None = None
    owner: str | None = None  # the job working on the run now, and when it last wrote (epoch seconds)
    heartbeat: float = 0.0

    def owned_by_other(self, job_id: str) -> bool:
        """Another job wrote this running run less than LEASE_S ago: it is still at work."""
        return self.status == "running" and self.owner not in (None, job_id) and time.time() - self.heartbeat < LEASE_S

    @property
    def percent(self) -> int:
        if self.status == "completed":
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0


def read_state(rt: Runtime) -> ReindexState | None:
    """The current (or last) run's state, or None when no re-index ever ran."""
    pipeline = ImagePipeline(rt)
    try:
        raw = rt.clients.s3.get_object(Bucket=pipeline.media_bucket, Key=STATE_KEY)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return ReindexState(**json.loads(raw))


def _save(pipeline: ImagePipeline, state: ReindexState) -> None:
    state.heartbeat = time.time()
    pipeline.rt.clients.s3.put_object(
        Bucket=pipeline.media_bucket,
        Key=STATE_KEY,
        Body=json.dumps(asdict(state)).encode(),
        ContentType="application/json",
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def reindex(data: ReindexData, ctx: JobContext) -> dict[str, Any]:
    """Fill the configured embedder's index from the image records, batch by batch, then activate it."""
    pipeline = ImagePipeline(ctx.runtime)
    embedder = pipeline.providers.embedder
    target = IndexRef.for_embedder(embedder)
    state = read_state(ctx.runtime)
    if state is not None and state.owned_by_other(ctx.job_id):
        logger.info("reindex already running", owner=state.owner, job_id=ctx.job_id)
        return {"index": state.target["name"], "skipped": f"job {state.owner} is running this re-index"}
    if data.restart or state is None or state.status == "completed" or state.target != asdict(target):
        active = pipeline.vectors.active(target)
        state = ReindexState(
            target=asdict(target),
            total=_count_indexable(pipeline),
            started_at=_now(),
            previous=asdict(active) if active != target else None,
        )
    if ctx.job_id not in state.jobs:
        state.jobs.append(ctx.job_id)
    state.owner = ctx.job_id
    pipeline.vectors.ensure(target)
    index = pipeline.vectors.open(target)
    _save(pipeline, state)
    logger.info("reindex running", target=target.name, done=state.done, total=state.total, job_id=ctx.job_id)
    while True:
        records, cursor = pipeline.store.scan_page(state.cursor, status="completed", limit=BATCH)
        indexable = [r for r in records if r.metadata]
        if indexable:
            vectors = embedder.embed([embedding_text(r.metadata or {}) for r in indexable])
            items = [
                (r.key, v, index_metadata(r.metadata or {}, r.variants))
                for r, v in zip(indexable, vectors, strict=True)
            ]
            _write(index, items)
        state.done += len(indexable)
        state.total = max(state.total, state.done)
        state.cursor = cursor
        _save(pipeline, state)
        ctx.update_progress(state.percent)
        if cursor is None:
            break
        if ctx.remaining_s() < HANDOVER_MARGIN_S:
            from offload.jobs.enqueue import enqueue

            follow_up = enqueue("image.reindex", {}, runtime=ctx.runtime)
            state.owner = follow_up  # the lease passes on, so the follow-up isn't turned away as "another run"
            state.jobs.append(follow_up)
            _save(pipeline, state)
            logger.info("reindex handed over", follow_up=follow_up, done=state.done, total=state.total)
            return {"index": target.name, "done": state.done, "total": state.total, "continued_by": follow_up}
    previous = IndexRef(**state.previous) if state.previous else None
    pipeline.vectors.activate(target, previous=previous)
    state.status, state.finished_at, state.owner = "completed", _now(), None
    _save(pipeline, state)
    logger.info("reindex completed", target=target.name, done=state.done)
    return {"index": target.name, "done": state.done, "total": state.total, "active": target.name}


def _write(index: VectorIndex, items: list[tuple[str, list[float], dict[str, Any]]]) -> None:
    """One batched write where the adapter has one (S3 Vectors: 500 per PutVectors), else one per vector."""
    many = getattr(index, "upsert_many", None)
    if many is not None:
        many(items)
        return
    for key, vector, metadata in items:
        index.upsert(key, vector, metadata)


def _count_indexable(pipeline: ImagePipeline) -> int:
    """How many records the run will embed (completed ones), for the progress figure."""
    return sum(1 for r in pipeline.store.scan(status="completed") if r.metadata)


def start_reindex(rt: Runtime, *, restart: bool = False) -> str:
    """Queue a re-index run (or the resumption of an unfinished one); returns the job id."""
    from offload.jobs.enqueue import enqueue

    return enqueue("image.reindex", {"restart": True} if restart else {}, runtime=rt)
