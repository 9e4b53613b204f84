"""The video pipeline's steps on moto, in the state machine's order (tests/support/video.py):
records, outputs in S3, bad inputs, the audio branch, cancelling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offload.media.records import cancel_record
from offload.media.video import samples
from offload.packs.video.steps import output_root, work_root
from tests.support import video as harness

av = pytest.importorskip("av")
m3u8 = pytest.importorskip("m3u8")

# Short keyframe/HLS intervals and a tiny budget: a few seconds of video make several segments.
OPTIONS: dict[str, Any] = {"gop_s": 1.0, "hls_time_s": 2.0, "segment_budget_s": 1.0}


@pytest.fixture
def pipeline(aws, settings):
    return harness.video_pipeline(settings, **OPTIONS)


def put_sample(tmp_path: Path, make, key: str, name: str = "in.mp4") -> dict[str, Any]:
    return harness.upload(key, make(tmp_path / name).read_bytes())


def outputs_by_kind(record) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for o in record.outputs:
        kinds.setdefault(o["kind"], []).append(o)
    return kinds


def test_a_landscape_upload_completes_with_every_output_decodable(pipeline, tmp_path: Path) -> None:
    video = put_sample(tmp_path, lambda p: samples.landscape(p, duration_s=3.0), "uploads/videos/clip one.mp4")

    result = harness.run_execution(pipeline, video)

    assert result["status"] == "completed", result
    record = pipeline.store.get(video["key"])
    assert record.status == "completed" and record.kind == "video"
    assert record.progress == dict.fromkeys(("probe", "plan", "transcode", "join", "package"), 1.0)
    assert record.segments_done == record.segments_total == len(harness_segments(record))
    kinds = outputs_by_kind(record)
    assert sorted(kinds) == sorted(
        ["mp4", "webm", "hls", "hls_master", "poster", "sprite", "vtt", "audio_aac", "audio_opus"]
    )
    root = output_root(video["key"])
    assert root == "videos/clip one.mp4/"
    stored = set(harness.s3_keys(root))
    for o in record.outputs:
        assert o["key"] in stored, o
    mp4 = kinds["mp4"][0]
    assert (mp4["codec"], mp4["width"], mp4["height"]) == ("h264", 320, 180)
    assert abs(mp4["duration_s"] - 3.0) <= 0.1
    with av.open(str(harness.download(mp4["key"], tmp_path / "out.mp4"))) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
    with av.open(str(harness.download(kinds["webm"][0]["key"], tmp_path / "out.webm"))) as c:
        assert c.streams.video[0].codec_context.name == "vp9" and c.streams.audio[0].codec_context.name == "opus"
    master = m3u8.loads(
        (harness.download(f"{root}hls/master.m3u8", tmp_path / "master.m3u8")).read_text(), uri=f"{root}hls/"
    )
    assert [p.stream_info.resolution for p in master.playlists] == [(320, 180)]
    for playlist in master.playlists:
        media = m3u8.loads(harness.download(f"{root}hls/{playlist.uri}", tmp_path / "index.m3u8").read_text())
        folder = posix_dir(f"{root}hls/{playlist.uri}")
        assert media.segments and all(f"{folder}{s.uri}" in stored for s in media.segments)
    vtt = harness.download(f"{root}sprite.vtt", tmp_path / "sprite.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "sprite.jpg#xywh=" in vtt
    # The scratch parts are gone; the original is kept.
    assert harness.s3_keys(work_root(video)) == []
    assert harness.s3_keys(video["key"]) == [video["key"]]


def harness_segments(record) -> list[int]:
    return list(range(record.plan["segments"]))


def posix_dir(key: str) -> str:
    return key.rsplit("/", 1)[0] + "/"


def test_a_rotated_portrait_without_audio_stays_portrait_and_has_no_audio_outputs(pipeline, tmp_path: Path) -> None:
    video = put_sample(tmp_path, lambda p: samples.portrait(p, rotation=90), "uploads/videos/phone/ü clip.mp4")

    result = harness.run_execution(pipeline, video)

    assert result["status"] == "completed", result
    record = pipeline.store.get(video["key"])
    kinds = outputs_by_kind(record)
    assert "audio_aac" not in kinds and "audio_opus" not in kinds
    mp4 = kinds["mp4"][0]
    assert mp4["height"] > mp4["width"]
    with av.open(str(harness.download(mp4["key"], tmp_path / "out.mp4"))) as c:
        assert not c.streams.audio


def test_an_audio_upload_gets_aac_opus_mp3_and_a_waveform(pipeline, tmp_path: Path) -> None:
    audio = put_sample(tmp_path, lambda p: samples.audio_only(p, duration_s=2.0), "uploads/audio/talk.m4a", "a.m4a")

    result = harness.run_execution(pipeline, audio, kind="audio")

    assert result["status"] == "completed", result
    record = pipeline.store.get(audio["key"])
    kinds = outputs_by_kind(record)
    assert sorted(kinds) == ["audio_aac", "audio_mp3", "audio_opus", "waveform"]
    assert all(o["key"].startswith("audio/talk.m4a/") for o in record.outputs)
    for fmt in ("aac", "mp3", "opus"):
        assert abs(kinds[f"audio_{fmt}"][0]["duration_s"] - 2.0) <= 0.1
    assert kinds["waveform"][0]["width"] > 0


def test_audio_only_sent_as_a_video_is_handled_as_audio(pipeline, tmp_path: Path) -> None:
    audio = put_sample(tmp_path, lambda p: samples.audio_only(p), "uploads/videos/song.m4a", "a.m4a")

    result = harness.run_execution(pipeline, audio)

    assert result["status"] == "completed", result
    record = pipeline.store.get(audio["key"])
    assert record.kind == "audio"
    assert {o["kind"] for o in record.outputs} == {"audio_aac", "audio_mp3", "audio_opus", "waveform"}


@pytest.mark.parametrize(
    ("make", "name", "reason"),
    [
        (samples.truncated, "cut.mp4", "moov"),
        (samples.not_video, "notes.mp4", "not"),
        (samples.random_bytes, "noise.mov", "not"),
        (samples.unsupported_codec, "old.avi", "msmpeg4v2"),
    ],
)
def test_bad_input_fails_at_probe_with_its_reason_and_the_original_kept(
    pipeline, tmp_path: Path, make, name: str, reason: str
) -> None:
    video = put_sample(tmp_path, make, f"uploads/videos/bad/{name}", name)

    result = harness.run_execution(pipeline, video)

    assert result["status"] == "failed"
    record = pipeline.store.get(video["key"])
    assert record.status == "failed" and record.error["step"] == "probe"
    assert reason in record.error["reason"].lower(), record.error
    assert record.outputs == []
    assert harness.s3_keys(video["key"]) == [video["key"]]
    assert harness.s3_keys(output_root(video["key"])) == []


def test_over_the_duration_limit_fails_naming_the_limit_and_the_fix(settings, aws, tmp_path: Path) -> None:
    pipeline = harness.video_pipeline(settings, limits={"max_duration_s": 1.0})
    video = put_sample(tmp_path, lambda p: samples.landscape(p, duration_s=2.0), "uploads/videos/long.mp4")

    harness.run_execution(pipeline, video)

    record = pipeline.store.get(video["key"])
    assert record.status == "failed" and record.error["step"] == "probe"
    assert "max_duration_s" in record.error["reason"]


def test_a_job_watermark_reaches_the_plan(pipeline, tmp_path: Path) -> None:
    video = put_sample(tmp_path, samples.landscape, "uploads/videos/marked.mp4")
    video["watermark"] = {"text": "© offload", "position": "top-left"}

    result = harness.run_execution(pipeline, video)

    assert result["status"] == "completed", result
    assert pipeline.store.get(video["key"]).plan["watermark"] is True


def test_a_cancelled_video_never_completes(pipeline, tmp_path: Path) -> None:
    from offload.media.records import new_record
    from offload.packs.video.store import VideoRecord

    video = put_sample(tmp_path, samples.landscape, "uploads/videos/stop.mp4")
    pipeline.store.register(new_record(VideoRecord, video, kind="video", stage="probe"))
    state = harness.call(pipeline, "probe", {"video": video, "kind": "video"})
    sfn = _NoExecutions()

    cancelled = cancel_record(pipeline.store, sfn, video["key"], noun="video", get_command="offload videos get")

    assert cancelled.status == "cancelled"
    assert harness.call(pipeline, "complete", state)["status"] == "unchanged"
    assert pipeline.store.get(video["key"]).status == "cancelled"


class _NoExecutions:
    """A record registered by hand has no execution to stop; stopping one would be a bug."""

    def stop_execution(self, **kwargs: Any) -> None:
        raise AssertionError(f"no execution to stop: {kwargs}")
