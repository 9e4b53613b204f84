"""The generation steps against the real openai SDK and a loopback /v1/videos gateway, on moto.

Each clip is driven the way the state machine drives it (tests/support/generate.py: Submit -> Wait ->
Poll ... -> Download, the 2 s / 4 s / 8 s retries, the Map item's catch into ClipFailed), with the Wait
states skipped: what is checked is where each provider failure ends."""

from __future__ import annotations

import pytest

from offload.errors import NonRetryableError
from offload.media.video import samples
from offload.testing.openai_server import (
    FakeOpenAIServer,
    Reply,
    api_error,
    image_generation,
    video_content,
    video_job,
)
from tests.support.generate import MODEL, drive_clip, drive_submit_only, generation, merge_outcome, script

pytestmark = pytest.mark.usefixtures("runtime")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OFFLOAD_AI_API_KEY", "sk-test")
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return samples.landscape(tmp_path_factory.mktemp("clip") / "clip.mp4", duration_s=1.0).read_bytes()


def _done(mp4: bytes, vid: str = "video_1") -> tuple[Reply, ...]:
    return (video_job(vid, "completed", progress=100, model=MODEL), video_content(mp4))


def test_happy_path_submits_polls_every_interval_and_keeps_the_clip_with_its_timings(runtime, gateway, mp4):
    g = generation(runtime, gateway)
    state = script(g, scenes=2)
    gateway.script(
        video_job("video_1", "queued", model=MODEL),
        video_job("video_1", "in_progress", progress=40, model=MODEL),
        *_done(mp4),
    )
    outcome = drive_clip(g, state, 0)
    assert outcome.status == "completed" and outcome.waits == [g.options.poll_interval_s] * 2
    clip = g.clip_state(state["job_id"], 0)
    assert (clip["status"], clip["provider"], clip["provider_job_id"], clip["polls"]) == (
        "completed",
        "openai",
        "video_1",
        1,
    )
    assert clip["key"] == "generated/job-1/clips/0.mp4" and clip["bytes"] == len(mp4)
    assert g.exists(clip["key"]) and clip["seconds_taken"] >= 0
    create = next(r for r in gateway.requests if r.method == "POST")
    assert create.path == "/v1/videos" and "input_reference" in create.files, "the scene image starts the clip"
    assert (create.body["size"], create.body["seconds"], create.body["model"]) == ("320x180", "2", MODEL)


def test_a_429_waits_out_retry_after_without_using_an_attempt(runtime, gateway, mp4):
    g = generation(runtime, gateway)
    state = script(g, scenes=1)
    gateway.script(api_error(429, "slow down", code="rate_limit_exceeded", retry_after="7"), video_job("v", "queued"))
    gateway.script(*_done(mp4, "v"))
    outcome = drive_clip(g, state, 0)
    assert outcome.status == "completed"
    assert outcome.waits[0] == 7 and outcome.retries == 0, "the 429 was a wait, not a retried attempt"


def test_500s_until_the_retries_run_out_fail_the_scene_and_the_job_names_it(runtime, gateway):
    g = generation(runtime, gateway)
    state = script(g, scenes=2)
    gateway.script(*[api_error(500, "upstream broke", error_type="server_error")] * 4)
    outcome = drive_clip(g, state, 0)
    assert outcome.status == "failed" and outcome.retries == 3
    assert len([r for r in gateway.requests if r.method == "POST"]) == 4
    assert "500" in g.clip_state(state["job_id"], 0)["error"]["reason"]
    message = merge_outcome(g, state)
    assert message.startswith("merge: scene 1 of 2 failed (and 1 more):"), message


def test_a_clip_that_never_finishes_fails_at_the_poll_limit_and_is_cancelled(runtime, gateway):
    g = generation(runtime, gateway, max_polls=3)
    state = script(g, scenes=1)
    gateway.script(video_job("slow", "queued"), *[video_job("slow", "in_progress", progress=5)] * 3)
    gateway.script(Reply(body={"id": "slow", "object": "video.deleted", "deleted": True}))
    outcome = drive_clip(g, state, 0)
    assert outcome.status == "failed"
    reason = g.clip_state(state["job_id"], 0)["error"]["reason"]
    assert "provider did not finish in 0.25 min (3 polls)" in reason, reason
    assert gateway.requests[-1].method == "DELETE" and gateway.requests[-1].path == "/v1/videos/slow"


def test_a_refusal_fails_the_scene_at_once_with_the_providers_reason(runtime, gateway):
    g = generation(runtime, gateway)
    state = script(g, scenes=1)
    gateway.script(
        video_job("v", "queued"),
        video_job("v", "failed", error=("moderation_blocked", "Your request was blocked by our moderation system.")),
    )
    outcome = drive_clip(g, state, 0)
    assert outcome.status == "failed" and outcome.retries == 0
    reason = g.clip_state(state["job_id"], 0)["error"]["reason"]
    assert "openai refused the content" in reason and "blocked by our moderation" in reason


def test_a_malformed_answer_is_retried_then_the_clip_completes(runtime, gateway, mp4):
    g = generation(runtime, gateway)
    state = script(g, scenes=1)
    gateway.script(video_job("v", "queued"), Reply(body={"object": "video"}), *_done(mp4, "v"))
    outcome = drive_clip(g, state, 0)
    assert outcome.status == "completed" and outcome.retries == 1


def test_a_failed_download_is_retried_and_a_download_that_is_not_a_video_fails(runtime, gateway, mp4):
    g = generation(runtime, gateway)
    state = script(g, scenes=2)
    gateway.script(video_job("a", "queued"), video_job("a", "completed", progress=100))
    gateway.script(api_error(502, "bad gateway", error_type="server_error"), video_content(mp4))
    assert drive_clip(g, state, 0).status == "completed"
    gateway.script(video_job("b", "queued"), video_job("b", "completed", progress=100))
    gateway.script(video_content(b"<html>not a clip</html>", content_type="text/html"))
    assert drive_clip(g, state, 1).status == "failed"
    assert "not" in g.clip_state(state["job_id"], 1)["error"]["reason"]


def test_a_retry_remakes_only_the_failed_clip(runtime, gateway, mp4):
    g = generation(runtime, gateway)
    state = script(g, scenes=2)
    gateway.script(video_job("ok", "queued"), *_done(mp4, "ok"))
    assert drive_clip(g, state, 0).status == "completed"
    gateway.script(video_job("no", "queued"), video_job("no", "failed", error=("moderation_blocked", "blocked")))
    assert drive_clip(g, state, 1).status == "failed"
    sent = len(gateway.requests)

    rerun = script(g, scenes=2, job_id=state["job_id"], run="run-2")  # offload jobs retry: a new execution
    gateway.script(video_job("again", "queued"), *_done(mp4, "again"))
    assert drive_clip(g, rerun, 0).status == "completed"
    assert len(gateway.requests) == sent, "the finished clip was not submitted again"
    assert drive_clip(g, rerun, 1).status == "completed"
    assert g.clip_state(state["job_id"], 0)["provider_job_id"] == "ok"
    assert g.clip_state(state["job_id"], 1)["provider_job_id"] == "again"


def test_skip_failed_scenes_merges_the_rest(runtime, gateway, mp4):
    g = generation(runtime, gateway)
    state = script(g, scenes=2)
    state["data"]["skip_failed_scenes"] = True
    gateway.script(video_job("ok", "queued"), *_done(mp4, "ok"))
    assert drive_clip(g, state, 0).status == "completed"
    gateway.script(video_job("no", "queued"), video_job("no", "failed", error=("moderation_blocked", "blocked")))
    assert drive_clip(g, state, 1).status == "failed"
    # Merge gets past the failed scene and merges scene 1 alone; this moto stack has no video pipeline
    # deployed, so handing the merged video over is what stops it.
    message = merge_outcome(g, state)
    assert "the 'video' pack is not deployed" in message, message
    assert g.exists("generated/job-1.mp4")


def test_a_cancelled_generation_cancels_its_outstanding_provider_jobs(runtime, gateway):
    from offload.jobs.model import Job, JobStatus, now_iso
    from offload.packs.generate.hooks import on_job_finished

    g = generation(runtime, gateway)
    state = script(g, scenes=1)
    gateway.script(video_job("running", "queued"))
    call_submit = drive_submit_only(g, state, 0)
    assert call_submit["clip"]["status"] == "in_progress"
    gateway.script(Reply(body={"id": "running", "object": "video.deleted", "deleted": True}))
    ts = now_iso()
    job = Job(
        job_id="job-1",
        type="video.generate",
        queue="generate",
        status=JobStatus.CANCELLED,
        max_attempts=3,
        backoff={"kind": "exponential", "delay_s": 2.0},
        timeout_s=60,
        created_at=ts,
        updated_at=ts,
        execution_arn="arn:run-1",
        data=state["data"],
    )
    on_job_finished(job, g.rt)
    assert (gateway.requests[-1].method, gateway.requests[-1].path) == ("DELETE", "/v1/videos/running")
    clip = g.clip_state("job-1", 0)
    assert clip["status"] == "cancelled" and clip["provider_cancelled"] is True
    assert g.store.get("job-1").status == "cancelled"


def test_an_image_url_at_the_metadata_service_fails_the_image_step_with_the_reason(runtime, gateway, monkeypatch):
    # Given the stack's image model (on the gateway) answers with a download URL at the metadata service
    monkeypatch.setenv("OFFLOAD_AI_BASE_URL", gateway.base_url)
    g = generation(runtime, gateway, images="openai")
    gateway.script(image_generation(url="http://169.254.169.254/latest/meta-data/scene.png"))

    # When the scene's image step runs, then it fails for good (not retried) naming the refused address
    with pytest.raises(NonRetryableError, match=r"won't download.*the cloud metadata service"):
        script(g, scenes=1)
    assert not g.exists("generated/job-1/scenes/0.png")
    assert [r.path for r in gateway.requests] == ["/v1/images/generations"], "only the provider was called"
