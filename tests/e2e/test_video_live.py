"""A live stream's recording on the local cloud: segments uploaded under uploads/live/<stream>/ ->
SQS -> live.segment jobs -> one execution each (the state machine's Kind choice routes them to
LiveSegment) -> rolling playlists; END -> LiveEnd -> VOD playlists, vod.mp4, the record completed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from offload.media.video.ffmpeg import run_ffmpeg

av = pytest.importorskip("av")
m3u8 = pytest.importorskip("m3u8")

pytestmark = pytest.mark.slow

STREAM_KEY = "uploads/live/e2e show/"


@pytest.fixture(scope="module")
def config(local: Any) -> dict[str, Any]:
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    return dict(json.loads(outputs["ClientConfig"])["packs"]["video"])


def _record(local: Any) -> dict[str, Any] | None:
    done = local.cli("videos", "get", STREAM_KEY, "--json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _wait(local: Any, done: Any, what: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.time() + timeout_s
    while True:
        record = _record(local)
        if record and done(record):
            return record
        assert time.time() < deadline, f"the stream is not {what} after {timeout_s}s: {record}"
        time.sleep(1)


def _segments(tmp_path: Path) -> list[Path]:
    clip = tmp_path / "clip.ts"
    run_ffmpeg(
        [
            "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=6",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "mpegts", str(clip),
        ],
        what="live clip",
    )  # fmt: skip
    run_ffmpeg(
        [
            "-loglevel", "error", "-i", str(clip), "-map", "0", "-c", "copy", "-f", "segment",
            "-segment_time", "2", "-segment_format", "mpegts", str(tmp_path / "%d.ts"),
        ],
        what="cut",
    )  # fmt: skip
    return sorted(tmp_path.glob("[0-9]*.ts"), key=lambda p: int(p.stem))


def test_a_recording_rolls_into_playlists_and_ends_as_a_vod(local: Any, config: dict[str, Any], tmp_path: Path) -> None:
    s3 = local.client("s3")
    bucket = config["media_bucket"]
    segments = _segments(tmp_path)
    assert len(segments) == 3
    # A recorder's playlist next to the segments is ignored.
    s3.put_object(Bucket=bucket, Key=f"{STREAM_KEY}playlist.m3u8", Body=b"#EXTM3U\n")
    for path in segments:
        s3.put_object(Bucket=bucket, Key=f"{STREAM_KEY}{path.name}", Body=path.read_bytes())

    record = _wait(local, lambda r: r["segments_done"] == 3, "processed")
    assert (record["kind"], record["status"], record["segments_total"]) == ("live", "processing", 3)
    rolling = m3u8.loads(s3.get_object(Bucket=bucket, Key="live/e2e show/180p/index.m3u8")["Body"].read().decode())
    assert rolling.playlist_type == "event" and not rolling.is_endlist
    assert [s.uri for s in rolling.segments] == ["000000.ts", "000001.ts", "000002.ts"]

    s3.put_object(Bucket=bucket, Key=f"{STREAM_KEY}END", Body=b"")
    record = _wait(local, lambda r: r["status"] in ("completed", "failed"), "completed")

    assert record["status"] == "completed", record.get("error")
    final = m3u8.loads(s3.get_object(Bucket=bucket, Key="live/e2e show/180p/index.m3u8")["Body"].read().decode())
    assert final.playlist_type == "vod" and final.is_endlist
    assert abs(sum(s.duration for s in final.segments) - 6.0) <= 0.1
    vod = tmp_path / "vod.mp4"
    vod.write_bytes(s3.get_object(Bucket=bucket, Key="live/e2e show/vod.mp4")["Body"].read())
    with av.open(str(vod)) as container:
        assert container.streams.audio
        assert abs(float(container.duration / av.time_base) - 6.0) <= 0.1
    assert {o["kind"] for o in record["outputs"]} == {"mp4", "hls", "hls_master"}
