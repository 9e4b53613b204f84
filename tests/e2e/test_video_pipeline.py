"""The video pipeline on the local cloud: S3 upload -> SQS -> starter job -> Standard state machine
(probe -> plan -> Map of transcode tasks -> Map of joins -> package) -> record and outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from offload.media.video import samples

av = pytest.importorskip("av")
m3u8 = pytest.importorskip("m3u8")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config(local):
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    client_config = json.loads(outputs["ClientConfig"])
    return client_config["packs"]["video"]


def _record(local, key):
    done = local.cli("videos", "get", key, "--json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _wait(local, key, statuses=("completed", "failed", "cancelled"), timeout_s=240):
    deadline = time.time() + timeout_s
    while True:
        record = _record(local, key)
        if record and record["status"] in statuses:
            return record
        assert time.time() < deadline, f"{key} is {record and record['status']} after {timeout_s}s"
        time.sleep(1)


def test_an_upload_ends_completed_with_decodable_outputs(local, config, tmp_path: Path) -> None:
    key = "uploads/videos/e2e clip ü.mp4"
    clip = samples.landscape(tmp_path / "in.mp4", width=640, height=360, duration_s=5.0)
    local.client("s3").put_object(Bucket=config["media_bucket"], Key=key, Body=clip.read_bytes())

    record = _wait(local, key)

    assert record["status"] == "completed", record.get("error")
    assert record["progress"] == dict.fromkeys(("probe", "plan", "transcode", "join", "package"), 1.0)
    kinds = {o["kind"] for o in record["outputs"]}
    assert {"mp4", "webm", "hls", "hls_master", "poster", "sprite", "vtt", "audio_aac", "audio_opus"} <= kinds
    s3 = local.client("s3")
    for output in record["outputs"]:
        head = s3.head_object(Bucket=config["media_bucket"], Key=output["key"])
        assert head["ContentLength"] > 0
    mp4 = next(o for o in record["outputs"] if o["kind"] == "mp4")
    body = s3.get_object(Bucket=config["media_bucket"], Key=mp4["key"])["Body"].read()
    (tmp_path / "out.mp4").write_bytes(body)
    with av.open(str(tmp_path / "out.mp4")) as c:
        video = c.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 640, 360)
        assert c.streams.audio and abs(float(c.duration / av.time_base) - 5.0) <= 0.1
    master_key = next(o["key"] for o in record["outputs"] if o["kind"] == "hls_master")
    master = m3u8.loads(s3.get_object(Bucket=config["media_bucket"], Key=master_key)["Body"].read().decode())
    assert [p.stream_info.resolution for p in master.playlists] == [(640, 360)]
    listed = json.loads(local.cli("videos", "list", "--status", "completed", "--json").stdout)
    assert key in [r["key"] for r in listed]


def test_bad_uploads_end_failed_with_their_reasons(local, config, tmp_path: Path) -> None:
    s3 = local.client("s3")
    bad = {
        "uploads/videos/bad/empty.mp4": samples.empty(tmp_path / "e.mp4"),
        "uploads/videos/bad/cut.mp4": samples.truncated(tmp_path / "t.mp4"),
        "uploads/videos/bad/notes.mp4": samples.not_video(tmp_path / "n.mp4"),
    }
    for key, path in bad.items():
        s3.put_object(Bucket=config["media_bucket"], Key=key, Body=path.read_bytes())

    reasons = {key: _wait(local, key)["error"]["reason"] for key in bad}

    assert "empty" in reasons["uploads/videos/bad/empty.mp4"]
    assert "moov" in reasons["uploads/videos/bad/cut.mp4"]
    assert "not" in reasons["uploads/videos/bad/notes.mp4"]
    for key in bad:
        assert s3.head_object(Bucket=config["media_bucket"], Key=key)["ContentLength"] >= 0  # the original is kept


def test_cancel_stops_a_running_execution(local, config, tmp_path: Path) -> None:
    key = "uploads/videos/long one.mp4"
    clip = samples.landscape(tmp_path / "long.mp4", width=640, height=360, duration_s=20.0)
    local.client("s3").put_object(Bucket=config["media_bucket"], Key=key, Body=clip.read_bytes())
    record = _wait(local, key, statuses=("processing",), timeout_s=120)

    done = local.cli("videos", "cancel", key)

    assert "cancelled" in done.stdout
    record = _wait(local, key)
    assert record["status"] == "cancelled"
    sfn = local.client("stepfunctions")
    deadline = time.time() + 30
    while sfn.describe_execution(executionArn=record["execution_arn"])["status"] == "RUNNING":
        assert time.time() < deadline, "the execution is still running after the cancel"
        time.sleep(0.5)
    assert sfn.describe_execution(executionArn=record["execution_arn"])["status"] == "ABORTED"
    time.sleep(3)
    assert _record(local, key)["status"] == "cancelled"
