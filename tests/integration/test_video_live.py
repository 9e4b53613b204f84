"""Live streams on moto: a recording's segments land under uploads/live/<stream>/ out of order, each
goes through the live.segment job (the real starter, a moto state machine) and its execution's
steps; the rolling playlists, the END marker and the final VOD are read back and decoded.

The clip is cut the way a recorder cuts one: a stream copy of an H.264 + AAC MPEG-TS into ~2 s
segments at its keyframes.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import av
import boto3
import m3u8
import pytest

from offload.aws import Clients
from offload.errors import NonRetryableError, RateLimitedError
from offload.jobs.context import JobContext
from offload.jobs.model import Job, now_iso
from offload.media.video import samples
from offload.media.video.ffmpeg import run_ffmpeg
from offload.packs.uploads import UploadData
from offload.packs.video import live
from offload.packs.video.steps import VideoPipeline
from offload.runtime import Runtime
from offload.settings import Settings
from tests.support.video import MEDIA_BUCKET, REGION, call, download, run_execution, s3_keys, upload, video_pipeline

SOURCE_S = 7.0  # 2 + 2 + 2 + 1 s
FPS = 24


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An H.264 + AAC MPEG-TS, 854x480 (two rungs: 480p and 360p), keyframes every second."""
    out = tmp_path_factory.mktemp("live") / "source.ts"
    run_ffmpeg(
        [
            "-loglevel", "error",
            "-f", "lavfi", "-i", f"testsrc2=size=854x480:rate={FPS}:duration={SOURCE_S:g}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SOURCE_S:g}",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-c:a", "aac", "-b:a", "96k",
            "-f", "mpegts", str(out),
        ],
        what="live source clip",
    )  # fmt: skip
    return out


def cut(clip: Path, out_dir: Path, *, reset_timestamps: bool) -> list[Path]:
    """The clip as a recorder's segments: 000000.ts, 000001.ts, ... of ~2 s (stream copy)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-loglevel", "error", "-i", str(clip), "-map", "0", "-c", "copy", "-f", "segment",
            "-segment_time", "2", "-reset_timestamps", "1" if reset_timestamps else "0",
            "-segment_format", "mpegts", str(out_dir / "%06d.ts"),
        ],
        what="cut into segments",
    )  # fmt: skip
    return sorted(out_dir.glob("*.ts"))


@pytest.fixture(scope="module")
def segments(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four segments with timestamps reset per segment (each starts where the first did)."""
    return cut(clip, tmp_path_factory.mktemp("reset"), reset_timestamps=True)


@pytest.fixture
def pipeline(settings: Settings) -> VideoPipeline:
    """The video pipeline on moto, with a (not executing) state machine for the starter to start."""
    base = video_pipeline(settings)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="video-pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/video-pipeline",
    )
    pack = {**base.rt.settings.packs["video"], "pipeline_arn": machine["stateMachineArn"]}
    wired = base.rt.settings.model_copy(update={"packs": {**base.rt.settings.packs, "video": pack}})
    return VideoPipeline(Runtime(wired, Clients(region=REGION)))


def job_context(p: VideoPipeline) -> JobContext:
    ts = now_iso()
    job = Job(
        job_id="live-test",
        type="live.segment",
        queue="video",
        status="active",
        max_attempts=3,
        backoff={"kind": "exponential", "base_s": 2.0},
        timeout_s=60,
        created_at=ts,
        updated_at=ts,
    )
    return JobContext(job, p.rt, deadline=time.time() + 60)


def arrive(p: VideoPipeline, key: str, body: bytes) -> dict[str, Any]:
    """An object lands: the S3 upload and its live.segment job (the starter); the execution's input."""
    up = upload(key, body)
    started = live.start_live_object(p, UploadData(**up), job_context(p))
    if started["status"] != "started":
        return started
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return dict(json.loads(sfn.describe_execution(executionArn=started["execution_arn"])["input"]))


def execute(p: VideoPipeline, execution: dict[str, Any]) -> dict[str, Any]:
    """The state machine's run of one live execution (probe, then the kind's task; fail on an error)."""
    return run_execution(p, execution["video"], kind=execution["kind"], stream=execution["stream"])


def playlist(stream: str, rendition: str) -> m3u8.M3U8 | None:
    key = f"live/{stream}/{rendition}/index.m3u8"
    if key not in s3_keys(f"live/{stream}/"):
        return None
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read()
    return m3u8.loads(body.decode())


def segment_uris(stream: str, rendition: str = "360p") -> list[str]:
    pl = playlist(stream, rendition)
    return [s.uri for s in pl.segments] if pl is not None else []


def stream_record(p: VideoPipeline, stream: str) -> Any:
    record = p.store.get(f"uploads/live/{stream}/")
    assert record is not None
    return record


def assert_rolling(stream: str, renditions: list[str], expected: list[int], tmp: Path) -> None:
    """Every rendition's playlist is EVENT without ENDLIST and lists exactly `expected`; each
    segment exists and starts with a keyframe."""
    for name in renditions:
        pl = playlist(stream, name)
        if not expected:
            assert pl is None, f"{name}: nothing is contiguous from the first segment yet, so no playlist"
            continue
        assert pl is not None
        assert pl.playlist_type == "event"
        assert not pl.is_endlist
        assert pl.media_sequence == 0
        assert [s.uri for s in pl.segments] == [f"{seq:06d}.ts" for seq in expected]
        assert pl.target_duration == math.ceil(max(s.duration for s in pl.segments))
        for s in pl.segments:
            assert round(s.duration) <= pl.target_duration
            path = download(f"live/{stream}/{name}/{s.uri}", tmp / f"{name}-{s.uri}")
            assert first_packet_is_keyframe(path), f"{name}/{s.uri} does not start with a keyframe"


def first_packet_is_keyframe(path: Path) -> bool:
    with av.open(str(path)) as container:
        packet = next(p for p in container.demux(video=0) if p.pts is not None)
        return bool(packet.is_keyframe)


def video_start(path: Path) -> float:
    """The first video frame's presentation time, in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = min(p.pts for p in container.demux(stream) if p.pts is not None)
        return float(first * (stream.time_base or 0))


@pytest.mark.slow
def test_segments_out_of_order_roll_into_event_playlists_and_end_as_a_vod(
    pipeline: VideoPipeline, segments: list[Path], tmp_path: Path
) -> None:
    assert len(segments) == 4
    key = "uploads/live/show/{}".format
    body = [s.read_bytes() for s in segments]
    renditions = ["480p", "360p"]

    # Given segments 0 and 2 have landed, when 2 is processed first, then nothing is published
    # (the run from the first segment is empty) ...
    two, zero = arrive(pipeline, key("000002.ts"), body[2]), arrive(pipeline, key("000000.ts"), body[0])
    assert execute(pipeline, two)["published"] == 0
    assert_rolling("show", renditions, [], tmp_path)
    record = stream_record(pipeline, "show")
    assert (record.kind, record.status) == ("live", "processing")
    assert [r["name"] for r in record.plan["renditions"]] == renditions
    # ... and once 0 is, the playlists list 0 and 2 waits for 1.
    assert execute(pipeline, zero)["published"] == 1
    assert_rolling("show", renditions, [0], tmp_path)
    master = m3u8.loads(download("live/show/master.m3u8", tmp_path / "master.m3u8").read_text())
    assert [(p.uri, p.stream_info.resolution) for p in master.playlists] == [
        ("480p/index.m3u8", (854, 480)),
        ("360p/index.m3u8", (640, 360)),
    ]
    assert all(
        p.stream_info.codecs.startswith("avc1.") and "mp4a.40.2" in p.stream_info.codecs for p in master.playlists
    )

    # When 3 lands and is processed, 1 is still missing: nothing changes.
    one = arrive(pipeline, key("000001.ts"), body[1])
    execute(pipeline, arrive(pipeline, key("000003.ts"), body[3]))
    assert_rolling("show", renditions, [0], tmp_path)

    # END while 1 is uploaded but not processed: the state machine is told to retry.
    end = arrive(pipeline, key("END"), b"")
    assert end["kind"] == "live_end"
    with pytest.raises(RateLimitedError, match=r"waiting for 1 segments .*000001\.ts"):
        call(pipeline, "live_end", end)
    assert stream_record(pipeline, "show").status == "processing"

    # Once 1 is processed the gap fills: 0..3.
    assert execute(pipeline, one)["published"] == 4
    assert_rolling("show", renditions, [0, 1, 2, 3], tmp_path)

    # The retried END: VOD playlists with ENDLIST, the VOD MP4, the record completed.
    done = call(pipeline, "live_end", end)
    assert done["status"] == "completed"
    for name in renditions:
        pl = playlist("show", name)
        assert pl is not None
        assert pl.playlist_type == "vod" and pl.is_endlist
        assert [s.uri for s in pl.segments] == [f"{seq:06d}.ts" for seq in range(4)]
        assert abs(sum(s.duration for s in pl.segments) - SOURCE_S) <= 0.1
        # Each segment's timestamps started again at the recorder's start: the timeline jumps.
        assert [s.discontinuity for s in pl.segments] == [False, True, True, True]
    vod = download("live/show/vod.mp4", tmp_path / "vod.mp4")
    with av.open(str(vod)) as container:
        assert container.streams.audio, "the VOD has the stream's audio"
        video = container.streams.video[0]
        assert (video.codec_context.name, video.codec_context.width, video.codec_context.height) == ("h264", 854, 480)
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == round(SOURCE_S * FPS)
    with av.open(str(vod)) as container:
        samples_ = sum(f.samples for f in container.decode(audio=0))
    assert abs(samples_ / 48000 - SOURCE_S) <= 0.1
    record = stream_record(pipeline, "show")
    assert (record.status, record.segments_total, record.segments_done) == ("completed", 4, 4)
    kinds = {o["kind"]: o for o in record.outputs}
    assert set(kinds) == {"mp4", "hls", "hls_master"}
    mp4 = kinds["mp4"]
    assert (mp4["codec"], mp4["width"], mp4["height"], mp4["key"]) == ("h264", 854, 480, "live/show/vod.mp4")
    assert abs(mp4["duration_s"] - SOURCE_S) <= 0.1 and mp4["bytes"] > 0 and mp4["bitrate"] > 0
    assert sorted((o["width"], o["height"]) for o in record.outputs if o["kind"] == "hls") == [(640, 360), (854, 480)]
    master = m3u8.loads(download("live/show/master.m3u8", tmp_path / "final.m3u8").read_text())
    assert all(p.stream_info.average_bandwidth <= p.stream_info.bandwidth for p in master.playlists)

    # A segment after END is refused, clearly.
    with pytest.raises(NonRetryableError, match="already completed"):
        arrive(pipeline, key("000004.ts"), body[3])


@pytest.mark.slow
def test_a_recorders_continuous_timestamps_run_on_across_segments(
    pipeline: VideoPipeline, clip: Path, tmp_path: Path
) -> None:
    # Given segments cut from one stream without resetting timestamps (as IVS records them)
    first, second = cut(clip, tmp_path / "cut", reset_timestamps=False)[:2]
    for i, path in enumerate((first, second)):
        execute(pipeline, arrive(pipeline, f"uploads/live/cam/seg-{i}.ts", path.read_bytes()))
    # Then the playlist has no discontinuity, and segment 1 starts where segment 0 ends.
    pl = playlist("cam", "360p")
    assert pl is not None and [s.discontinuity for s in pl.segments] == [False, False]
    starts = [video_start(download(f"live/cam/360p/{s.uri}", tmp_path / s.uri)) for s in pl.segments]
    assert starts[1] == pytest.approx(starts[0] + pl.segments[0].duration, abs=0.5 / FPS)


@pytest.mark.slow
def test_mp4_segments_work_and_one_without_audio_keeps_the_streams_audio_track(
    pipeline: VideoPipeline, tmp_path: Path
) -> None:
    # Given a stream of MP4 segments whose second one has no audio track
    with_audio = samples.landscape(tmp_path / "a.mp4", duration_s=2.0)
    silent = samples.no_audio(tmp_path / "b.mp4", duration_s=2.0)
    for i, path in enumerate((with_audio, silent)):
        assert (
            execute(pipeline, arrive(pipeline, f"uploads/live/mp4/seg-{i}.mp4", path.read_bytes()))["published"]
            == i + 1
        )
    # Then both are MPEG-TS segments of the 180p rendition, each with an AAC track (silence in the second)
    for uri in segment_uris("mp4", "180p"):
        path = download(f"live/mp4/180p/{uri}", tmp_path / uri)
        with av.open(str(path)) as container:
            assert container.format.name == "mpegts"
            assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
        assert first_packet_is_keyframe(path)


@pytest.mark.slow
def test_a_bad_segment_fails_alone_and_the_stream_goes_on_without_it(
    pipeline: VideoPipeline, segments: list[Path], tmp_path: Path
) -> None:
    key = "uploads/live/rough/{}".format
    bad = samples.not_video(tmp_path / "bad.ts").read_bytes()
    truncated = samples.truncated(tmp_path / "cut.mp4").read_bytes()
    runs = [
        arrive(pipeline, key("000000.ts"), segments[0].read_bytes()),
        arrive(pipeline, key("000001.ts"), bad),
        arrive(pipeline, key("000002.mp4"), truncated),
        arrive(pipeline, key("000003.ts"), segments[1].read_bytes()),
    ]
    # When 0 and 3 are processed first, 3 waits for 1 and 2 ...
    assert [execute(pipeline, runs[i])["status"] for i in (0, 3)] == ["processed", "processed"]
    assert segment_uris("rough") == ["000000.ts"]
    # ... and when both fail (their executions end in the fail step), the playlist goes on past them.
    assert execute(pipeline, runs[1])["status"] == "failed"
    assert segment_uris("rough") == ["000000.ts"]
    assert execute(pipeline, runs[2])["status"] == "failed"
    assert segment_uris("rough") == ["000000.ts", "000003.ts"]
    record = stream_record(pipeline, "rough")
    assert record.status == "processing"
    reasons = {e["seq"]: e["reason"] for e in record.errors}
    assert sorted(reasons) == [1, 2]
    assert "not a video" in reasons[1] and "incomplete" in reasons[2]
    # An empty segment never starts an execution; it is recorded the same way.
    assert arrive(pipeline, key("000004.ts"), b"")["status"] == "failed"
    assert sorted(e["seq"] for e in stream_record(pipeline, "rough").errors) == [1, 2, 4]
    # The timeline jumps where the failed ones were; END doesn't wait for them.
    pl = playlist("rough", "360p")
    assert pl is not None and [s.discontinuity for s in pl.segments] == [False, True]
    assert call(pipeline, "live_end", arrive(pipeline, key("end.txt"), b""))["status"] == "completed"
    record = stream_record(pipeline, "rough")
    assert record.status == "completed" and len(record.errors) == 3
    vod = next(o for o in record.outputs if o["kind"] == "mp4")
    assert abs(vod["duration_s"] - 4.0) <= 0.1


def test_a_recorders_playlist_and_metadata_are_ignored_and_unnumbered_files_refused(pipeline: VideoPipeline) -> None:
    for name in ("playlist.m3u8", "recording-ended.json", "thumb0.jpg"):
        assert arrive(pipeline, f"uploads/live/s/{name}", b"x")["status"] == "ignored"
    with pytest.raises(NonRetryableError, match="no sequence number"):
        arrive(pipeline, "uploads/live/s/intro.ts", b"x")
    with pytest.raises(NonRetryableError, match="neither a media segment"):
        arrive(pipeline, "uploads/live/s/notes.txt", b"x")
    with pytest.raises(NonRetryableError, match="subfolder"):
        arrive(pipeline, "uploads/live/s/720p30/1.ts", b"x")


def test_a_duplicate_event_starts_nothing_and_the_stream_record_is_created_once(pipeline: VideoPipeline) -> None:
    up = upload("uploads/live/dup/000000.ts", b"not decoded here")
    first = live.start_live_object(pipeline, UploadData(**up), job_context(pipeline))
    again = live.start_live_object(pipeline, UploadData(**up), job_context(pipeline))
    assert (first["status"], again["status"]) == ("started", "duplicate")
    record = stream_record(pipeline, "dup")
    assert (record.kind, record.status, record.segments_total) == ("live", "processing", 1)


def test_a_playlist_write_that_loses_a_race_reads_the_winner_and_builds_on_it(pipeline: VideoPipeline) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    key = "live/race/360p/index.m3u8"
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"v1")
    seen: list[str | None] = []

    def build(current: str | None) -> str | None:
        seen.append(current)
        if len(seen) == 1:
            # Another task writes between this one's read and its write.
            s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"v2 (the other task's)")
        return f"{current} + mine"

    assert live.conditional_put(pipeline, key, build, live.LIVE_CACHE_CONTROL)
    # The first write was refused (If-Match on v1's ETag); the second built on v2.
    assert seen == ["v1", "v2 (the other task's)"]
    body = s3.get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read()
    assert body == b"v2 (the other task's) + mine"


def test_a_playlist_nobody_wrote_yet_is_created_once(pipeline: VideoPipeline) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    key = "live/race/master.m3u8"

    def first(current: str | None) -> str | None:
        if current is None:
            s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"theirs")  # created meanwhile
            return "mine"
        return None

    # If-None-Match refuses the second creation; on reading it back there's nothing to change.
    assert not live.conditional_put(pipeline, key, first, live.LIVE_CACHE_CONTROL)
    assert s3.get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read() == b"theirs"
