"""AI video generation on the local cloud with the local providers: a prompt becomes a published video.

video.generate job -> handed to the generation state machine (script -> scene images -> clips polled from
Wait states -> merge) -> the video pipeline (MP4, HLS, poster) -> the job completes with the outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

av = pytest.importorskip("av")

pytestmark = pytest.mark.slow

PROMPT = "A lighthouse at dawn over a calm sea. Gulls circle the lamp. Night falls on the harbour."


def test_a_prompt_becomes_a_published_video(local, tmp_path: Path) -> None:
    data = {"prompt": PROMPT, "size": "640x360", "clip_seconds": 2, "user_id": "u-1"}
    added = json.loads(local.cli("jobs", "add", "video.generate", "--data", json.dumps(data)).stdout)
    job_id = added["jobId"]

    deadline, seen = time.time() + 480, set()
    while True:
        job = json.loads(local.cli("jobs", "get", job_id, "--json").stdout)
        seen.add(job["progress"])
        if job["status"] in ("completed", "failed", "cancelled") or time.time() > deadline:
            break
        time.sleep(2)
    assert job["status"] == "completed", job.get("error")
    assert len(seen - {0, 100}) >= 2, f"progress moved through the stages: {sorted(seen)}"
    assert job["progress"] == 100
    result = job["result"]
    assert {"mp4", "hls_master", "poster"} <= set(result["outputs"])
    scenes = result["scenes"]
    assert len(scenes) == 3 and all(s["status"] == "completed" and s["provider_job_id"] for s in scenes)
    clips_s = sum(s["duration_s"] for s in scenes)
    assert result["duration_s"] == pytest.approx(clips_s, abs=0.1)

    config = json.loads(
        json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)["ClientConfig"]
    )
    bucket = config["packs"]["generate"]["media_bucket"]
    body = local.client("s3").get_object(Bucket=bucket, Key=result["outputs"]["mp4"])["Body"].read()
    (tmp_path / "out.mp4").write_bytes(body)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (640, 360)
        assert float(c.duration / av.time_base) == pytest.approx(clips_s, abs=0.1)

    record = json.loads(local.cli("generate", "get", job_id, "--json").stdout)
    assert record["status"] == "completed" and record["provider"] == "local" and record["user_id"] == "u-1"
    assert record["clips_done"] == 3 and record["error_message"] is None


def test_a_refused_request_fails_before_any_work(local) -> None:
    bad = {"prompt": "x", "scenes": [{"text": "a", "visual": "b", "seconds": 2}]}
    done = local.cli("jobs", "add", "video.generate", "--data", json.dumps(bad), check=False)
    assert done.returncode != 0 and "exactly one of `prompt`" in done.stderr + done.stdout
