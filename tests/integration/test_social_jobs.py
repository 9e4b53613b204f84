"""The social pack's jobs on moto through the real worker: trending from seeded events, feed fan-out in
batches (resumable, and split into child jobs), search re-indexing into the S3 vector index."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from offload.ai.local_adapter import HashingEmbedder
from offload.ai.vector_index import S3VectorIndex
from offload.jobs.context import JobContext
from offload.jobs.enqueue import enqueue
from offload.packs.social.feed import fan_out
from offload.packs.social.search import index_changed
from offload.packs.social.settings import store_of
from offload.testing.worker import Pump, run_job
from tests.support.payments import with_packs


@pytest.fixture
def rt(runtime):
    return with_packs(runtime, social={"half_life_hours": 24, "top_n": 3, "fanout_page": 20, "fanout_child_size": 25})


@pytest.fixture
def store(rt):
    return store_of(rt)


def followers(store, author: str, n: int) -> list[str]:
    ids = [f"user-{i:03d}" for i in range(1, n + 1)]
    store.add_followers(author, ids)
    return ids


def test_trending_keeps_the_top_n_by_decayed_score(rt, store):
    now = datetime.now(UTC)
    store.record_events(
        [("p-old", "like", now - timedelta(days=2))] * 8  # 8 * 3 * 0.25 = 6
        + [("p-new", "share", now - timedelta(minutes=1))]  # ~8
        + [("p-mid", "comment", now - timedelta(days=1))]  # 5 * 0.5 = 2.5
        + [("p-low", "view", now)]  # 1
        + [("p-gone", "share", now - timedelta(days=30))]  # outside the 7-day window
    )
    job = run_job(rt, "social.trending", {})
    assert job.status.value == "completed", job.error
    latest = store.get("trending", "latest")
    assert [i["content_id"] for i in latest["items"]] == ["p-new", "p-old", "p-mid"]
    assert float(latest["items"][1]["score"]) == pytest.approx(6.0, abs=0.01)
    assert latest["events"] == 11, "the 30-day-old event is not read"


def test_a_post_reaches_every_follower_feed_in_batches(rt, store):
    ids = followers(store, "author-1", 22)
    store.add_content("post-1", "author-1", "hello")
    job = run_job(rt, "social.feed_update", {"post_id": "post-1"})
    assert job.status.value == "completed", job.error
    assert job.result["written"] == 22 and job.result["batch_calls"] == 2, "pages of 20: 20 + 2 items"
    assert all(store.feed(u)[0]["post_id"] == "post-1" for u in ids)


def test_a_retried_fan_out_resumes_after_the_last_page_written(rt, store):
    ids = followers(store, "author-1", 22)
    store.add_content("post-1", "author-1", "hello")
    job_id = enqueue("social.feed_update", {"post_id": "post-1", "max_followers": 22, "start_after": None}, runtime=rt)
    job = rt.store.start(job_id, "default", lease_s=60).job
    # the first attempt wrote the first 20 and saved its cursor, then died
    store.put({"pk": f"fanout#{job_id}", "sk": "cursor", "cursor": ids[19], "written": 20})
    post = store.get("content#post-1", "content")
    out = fan_out(store, JobContext(job, rt, deadline=time.time() + 60), post, page_size=20, start_after=None, limit=22)
    assert out["written"] == 22 and out["batch_calls"] == 1
    assert store.feed(ids[0]) == [], "the resumed run did not start over"
    assert store.feed(ids[21])[0]["post_id"] == "post-1"


def test_a_big_audience_is_split_into_child_jobs_that_cover_it_once(rt, store):
    ids = followers(store, "author-1", 60)
    store.add_content("post-1", "author-1", "big news")
    parent = enqueue("social.feed_update", {"post_id": "post-1"}, runtime=rt)
    pump = Pump(rt, "default")
    pump.until(lambda: rt.store.get(parent).status.terminal)
    result = rt.store.get(parent).result
    assert len(result["children"]) == 3 and result["split_by"] == 25
    pump.until(lambda: all(rt.store.get(c).status.terminal for c in result["children"]))
    written = [rt.store.get(c).result["written"] for c in result["children"]]
    assert written == [25, 25, 10]
    assert all(len(store.feed(u)) == 1 for u in ids)


def test_a_post_that_does_not_exist_fails_with_the_fix(rt):
    job = run_job(rt, "social.feed_update", {"post_id": "ghost"})
    assert job.status.value == "failed" and "no post 'ghost'" in job.error.reason


def test_search_index_upserts_changed_content_once_and_removes_deleted(rt, store):
    index = S3VectorIndex(rt.clients.s3, rt.settings.payload_bucket, prefix="vectors/social/")
    embedder = HashingEmbedder()
    store.add_content("a", "u1", "sunset over the harbour")
    store.add_content("b", "u2", "recipe for lentil soup")
    first = index_changed(store, rt, "vectors/social/", index=index, embedder=embedder)
    assert first == {"upserted": 2, "deleted": 0, "changed_meanwhile": 0}
    assert index_changed(store, rt, "vectors/social/", index=index, embedder=embedder)["upserted"] == 0
    [top] = index.query(embedder.embed(["lentil soup recipe"])[0], limit=1)
    assert top.key == "b"
    time.sleep(0.002)
    store.add_content("a", "u1", "sunset", deleted=True)
    assert index_changed(store, rt, "vectors/social/", index=index, embedder=embedder)["deleted"] == 1
    assert [m.key for m in index.query(embedder.embed(["sunset"])[0], limit=5)] == ["b"]


def test_the_search_index_job_runs_on_the_worker(rt, store):
    store.add_content("a", "u1", "sunset over the harbour")
    job = run_job(rt, "social.search_index", {})
    assert job.status.value == "completed", job.error
    assert job.result["upserted"] == 1
