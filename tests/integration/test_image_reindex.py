"""image.reindex on moto: a new embedder's index is filled from the image records while search keeps
answering from the old one, the switch happens at the end, and a run resumes where it stopped."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from offload.ai.local_adapter import HashingEmbedder
from offload.jobs.model import JobStatus, now_iso
from offload.packs.images import reindex as reindex_module
from offload.packs.images.reindex import read_state
from offload.packs.images.search import search
from offload.packs.images.steps import ImagePipeline, embedding_text, index_metadata
from offload.packs.images.store import ImageRecord
from offload.packs.images.vectors import IndexRef
from offload.runtime import Runtime
from offload.testing.aws import create_records_table
from offload.testing.worker import Pump

REGION = "us-east-1"
MEDIA, TABLE, VECTORS = "offload-test-media", "offload-test-images", "offload-test-vectors"
DESCRIPTIONS = {
    "uploads/images/car.jpg": "crimson convertible on a road",
    "uploads/images/puppy.jpg": "a puppy playing in the grass",
    "uploads/images/boat.jpg": "a sailboat on the ocean",
    "uploads/images/desk.jpg": "a laptop on an office desk",
    "uploads/images/market.jpg": "a crowded street market at night",
}
OLD = HashingEmbedder(64)  # the embedder the deployment used before (lexical, 64 dimensions)


@pytest.fixture
def images(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """Completed image records, indexed with the old embedder in the active index."""
    for name in ("API_KEY", "API_KEY_SECRET_ARN", "BASE_URL", "EMBEDDING_MODEL"):
        monkeypatch.delenv(f"OFFLOAD_AI_{name}", raising=False)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=MEDIA)
    create_records_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    boto3.client("s3vectors", region_name=REGION).create_vector_bucket(vectorBucketName=VECTORS)
    runtime.settings.packs = {"images": {"media_bucket": MEDIA, "images_table": TABLE, "vector_bucket": VECTORS}}
    pipeline = ImagePipeline(runtime)
    old = IndexRef.for_embedder(OLD)
    old_index = pipeline.index_for(old)
    for key, text in DESCRIPTIONS.items():
        meta = {"description": text, "tags": [], "category": "photo", "mood": "calm"}
        at = now_iso()
        assert pipeline.store.register(
            ImageRecord(key=key, bucket=MEDIA, status="pending", created_at=at, updated_at=at)
        )
        pipeline.store.update(key, "processing", metadata=meta)
        pipeline.store.update(key, "completed")
        [vector] = OLD.embed([embedding_text(meta)])
        old_index.upsert(key, vector, index_metadata(meta, []))
    pipeline.vectors.activate(old)
    return runtime


def _keys(hits: list[dict[str, Any]]) -> list[str]:
    return [h["key"] for h in hits]


def test_search_answers_from_the_old_index_until_the_reindex_switches(images: Runtime, run_job: Any) -> None:
    # Given search on the old (lexical) index, embedding the query with the old model
    before = search(images, "a dog running on a lawn", limit=1)
    assert _keys(before) and before[0]["key"] != "uploads/images/puppy.jpg"  # no shared word: lexical misses

    # When the re-index job runs with the configured (ONNX) embedder
    job = run_job("image.reindex", {})

    # Then every record is in the new index, search switched to it, and it is semantic now
    assert job.status == JobStatus.COMPLETED, job.error
    onnx = ImagePipeline(images).providers.embedder
    target = IndexRef.for_embedder(onnx)
    assert job.result == {"index": target.name, "done": 5, "total": 5, "active": target.name}
    state = read_state(images)
    assert state is not None and (state.status, state.done, state.percent) == ("completed", 5, 100)
    assert state.previous == {"name": IndexRef.for_embedder(OLD).name, "model": OLD.model, "dimensions": 64}
    assert _keys(search(images, "a dog running on a lawn", limit=1)) == ["uploads/images/puppy.jpg"]
    assert _keys(search(images, "a boat at sea", limit=1, filter={"status": "indexed"})) == ["uploads/images/boat.jpg"]


def test_a_run_that_runs_out_of_time_hands_over_and_the_follow_up_resumes(
    images: Runtime, run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given batches of 2 and an attempt that always looks about to end
    monkeypatch.setattr(reindex_module, "BATCH", 2)
    monkeypatch.setattr(reindex_module, "HANDOVER_MARGIN_S", 10**9)

    # When the first job runs
    first = run_job("image.reindex", {})

    # Then it did one batch, handed over, and search still uses the old index
    assert first.status == JobStatus.COMPLETED and first.result is not None
    follow_up = first.result["continued_by"]
    state = read_state(images)
    assert state is not None and (state.status, state.done, state.owner) == ("running", 2, follow_up)
    assert ImagePipeline(images).vectors.active(IndexRef("x", "x", 1)).model == OLD.model

    # When the follow-ups run, each resuming from the stored cursor
    Pump(images, "images-reindex").until(lambda: (s := read_state(images)) is not None and s.status == "completed")

    # Then each record was embedded once, over three jobs, and the new index is active
    done = read_state(images)
    assert done is not None and done.done == 5 and len(done.jobs) == 3
    assert _keys(search(images, "alpine peaks", limit=5)) and len(search(images, "a boat", limit=10)) == 5


def test_a_second_run_while_one_holds_the_lease_does_nothing(images: Runtime, run_job: Any) -> None:
    # Given a run another job is working on (its state written just now)
    from dataclasses import asdict

    pipeline = ImagePipeline(images)
    target = IndexRef.for_embedder(pipeline.providers.embedder)
    busy = reindex_module.ReindexState(target=asdict(target), owner="job-elsewhere", total=5, started_at=now_iso())
    reindex_module._save(pipeline, busy)

    # When another re-index job runs
    job = run_job("image.reindex", {})

    # Then it leaves the run alone
    assert job.status == JobStatus.COMPLETED and job.result is not None
    assert job.result["skipped"] == "job job-elsewhere is running this re-index"
    after = read_state(images)
    assert after is not None and (after.owner, after.done) == ("job-elsewhere", 0)
