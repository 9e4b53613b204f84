"""Probing what phones and cameras send, refusing broken uploads, and the plan made from the facts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from offload.media.video import samples
from offload.media.video.facts import (
    INPUT_VIDEO_CODECS,
    Limits,
    MediaFacts,
    MediaInputError,
    VideoStreamFacts,
    output_info,
    probe,
)
from offload.media.video.plan import (
    RUNGS,
    VideoOptions,
    ladder,
    make_plan,
    output_fps,
    scratch_mb_for,
    segments,
)

pytest.importorskip("av")

GOOD: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "landscape": ("landscape.mp4", samples.landscape),
    "portrait": ("portrait clip.mp4", samples.portrait),
    "odd": ("odd.mp4", samples.odd_dimensions),
    "vfr": ("vfr.mp4", samples.variable_frame_rate),
    "no_audio": ("silent.mp4", samples.no_audio),
    "hdr": ("hdr10.mp4", samples.hdr10),
    "interlaced": ("interlaced.mp4", samples.interlaced),
    "short": ("short.mp4", samples.short),
    "audio_only": ("memo.m4a", samples.audio_only),
    "hlg": ("hlg.mp4", lambda p: samples.hdr10(p, transfer="arib-std-b67", duration_s=1.0)),
    "recording": ("recording.webm", samples.browser_recording),
    "anamorphic": ("dv.mp4", samples.anamorphic),
}
BAD: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "empty": ("empty.mp4", samples.empty),
    "truncated": ("truncated.mp4", samples.truncated),
    "not_media": ("notes.mp4", samples.not_video),
    "random": ("random.mov", samples.random_bytes),
    "unsupported_codec": ("old.avi", samples.unsupported_codec),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every sample, generated once for the module."""
    root = tmp_path_factory.mktemp("clips")
    return {name: make(root / filename) for name, (filename, make) in (GOOD | BAD).items()}


def facts_of(clips: dict[str, Path], name: str) -> MediaFacts:
    return probe(str(clips[name]))


def test_landscape_clip_facts(clips: dict[str, Path]) -> None:
    facts = facts_of(clips, "landscape")
    v = facts.video
    assert facts.kind == "video" and facts.container.startswith("mov,mp4")
    assert facts.duration_s == pytest.approx(2.0, abs=0.05)
    assert facts.bytes == clips["landscape"].stat().st_size
    assert (v.codec, v.width, v.height, v.display_width, v.display_height) == ("h264", 320, 180, 320, 180)
    assert v.rotation == 0 and v.fps == pytest.approx(30) and not v.variable_fps
    assert (v.pix_fmt, v.bit_depth, v.hdr, v.interlaced) == ("yuv420p", 8, False, False)
    assert v.frames == 60 and v.bitrate and v.bitrate > 0
    assert facts.audio is not None and (facts.audio.codec, facts.audio.sample_rate) == ("aac", 48000)


def test_rotation_metadata_swaps_the_displayed_size(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "portrait").video
    assert (v.width, v.height) == (320, 180)
    assert v.rotation == 90
    assert (v.display_width, v.display_height) == (180, 320)


@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_rotation_is_reported_clockwise_as_a_player_turns_it(tmp_path: Path, clockwise: int) -> None:
    v = probe(str(samples.portrait(tmp_path / "r.mp4", width=160, height=90, duration_s=0.5, rotation=clockwise))).video
    assert v.rotation == clockwise
    assert (v.display_width, v.display_height) == ((90, 160) if clockwise != 180 else (160, 90))


def test_portrait_clip_has_no_audio(clips: dict[str, Path]) -> None:
    assert facts_of(clips, "portrait").audio is None


def test_odd_dimensions_are_reported_as_coded(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "odd").video
    assert (v.width, v.height) == (641, 361)


def test_non_square_pixels_widen_the_displayed_size(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "anamorphic").video
    assert (v.width, v.height, v.display_width, v.display_height) == (480, 360, 640, 360)


def test_variable_frame_rate_is_detected(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "vfr").video
    assert v.variable_fps
    assert 10 < v.fps < 30  # the average of 30 fps then 10 fps


def test_constant_frame_rate_clips_are_not_variable(clips: dict[str, Path]) -> None:
    for name in ("landscape", "odd", "hdr", "interlaced", "short", "no_audio"):
        assert not facts_of(clips, name).video.variable_fps, name


def test_hdr10_is_ten_bit_pq(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "hdr").video
    assert (v.codec, v.pix_fmt, v.bit_depth) == ("hevc", "yuv420p10le", 10)
    assert v.color_transfer == "smpte2084" and v.hdr


def test_hlg_is_hdr(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "hlg").video
    assert v.color_transfer == "arib-std-b67" and v.hdr and v.bit_depth == 10


def test_duration_of_a_recording_without_one_is_read_from_its_packets(clips: dict[str, Path]) -> None:
    import av

    with av.open(str(clips["recording"])) as container:
        assert container.duration is None  # the premise: MediaRecorder-style, no duration element
    facts = facts_of(clips, "recording")
    assert facts.duration_s == pytest.approx(2.0, abs=0.05)
    assert (facts.video.codec, facts.audio.codec) == ("vp8", "opus")


def test_interlaced_clip_is_detected(clips: dict[str, Path]) -> None:
    v = facts_of(clips, "interlaced").video
    assert v.interlaced and v.fps == pytest.approx(25)
    assert not facts_of(clips, "landscape").video.interlaced


def test_short_clip_duration(clips: dict[str, Path]) -> None:
    assert facts_of(clips, "short").duration_s == pytest.approx(0.5, abs=0.05)


def test_audio_only_is_an_audio_source(clips: dict[str, Path]) -> None:
    facts = facts_of(clips, "audio_only")
    assert facts.kind == "audio" and facts.video is None
    assert facts.audio.codec == "aac" and facts.duration_s == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty", "empty"),
        ("truncated", "truncated"),
        ("not_media", "not_media"),
        ("random", "not_media"),
        ("unsupported_codec", "unsupported_codec"),
    ],
)
def test_bad_inputs_are_refused_with_their_code(clips: dict[str, Path], name: str, code: str) -> None:
    with pytest.raises(MediaInputError) as caught:
        probe(str(clips[name]))
    assert caught.value.code == code


def test_unsupported_codec_message_names_it_and_the_accepted_ones(clips: dict[str, Path]) -> None:
    with pytest.raises(MediaInputError, match="msmpeg4v2") as caught:
        probe(str(clips["unsupported_codec"]))
    assert all(codec in str(caught.value) for codec in INPUT_VIDEO_CODECS)


def test_mp4_cut_after_a_leading_moov_is_truncated(clips: dict[str, Path], tmp_path: Path) -> None:
    # +faststart puts the index first: the file opens, but the index points past its end.
    from offload.media.video.ffmpeg import run_ffmpeg

    fast = tmp_path / "fast.mp4"
    run_ffmpeg(["-i", str(clips["landscape"]), "-c", "copy", "-movflags", "+faststart", str(fast)], what="remux")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    with pytest.raises(MediaInputError) as caught:
        probe(str(cut))
    assert caught.value.code == "truncated"


def test_a_container_without_streams_is_refused(tmp_path: Path) -> None:
    from offload.media.video.ffmpeg import run_ffmpeg

    # An MKV holding only a subtitle track.
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    mkv = tmp_path / "subs.mkv"
    run_ffmpeg(["-i", str(srt), "-c:s", "srt", str(mkv)], what="subtitle-only mkv")
    with pytest.raises(MediaInputError, match="subtitle") as caught:
        probe(str(mkv))
    assert caught.value.code == "no_streams"


@pytest.mark.parametrize(
    ("limits", "code", "field"),
    [
        (Limits(max_duration_s=1.5), "too_long", "max_duration_s"),
        (Limits(max_bytes=1000), "too_many_bytes", "max_bytes"),
        (Limits(max_pixels=320 * 180 - 1), "too_many_pixels", "max_pixels"),
        (Limits(max_width=300), "too_many_pixels", "max_width"),
    ],
)
def test_limits_are_enforced_and_the_message_says_how_to_raise_them(
    clips: dict[str, Path], limits: Limits, code: str, field: str
) -> None:
    with pytest.raises(MediaInputError) as caught:
        probe(str(clips["landscape"]), limits=limits)
    assert caught.value.code == code
    assert field in str(caught.value) and "video_pack(limits=Limits(" in str(caught.value)


def test_size_of_an_http_source_comes_from_the_caller(clips: dict[str, Path]) -> None:
    with pytest.raises(MediaInputError) as caught:
        probe("http://127.0.0.1:9/never-fetched.mp4", size=0)
    assert caught.value.code == "empty"


def test_output_info_reads_back_the_file(clips: dict[str, Path]) -> None:
    info = output_info(clips["landscape"], kind="mp4", key="videos/x/video.mp4")
    assert info["kind"] == "mp4" and info["key"] == "videos/x/video.mp4"
    assert (info["codec"], info["width"], info["height"]) == ("h264", 320, 180)
    assert info["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert info["bytes"] == clips["landscape"].stat().st_size
    assert info["bitrate"] == pytest.approx(info["bytes"] * 8 / info["duration_s"], rel=0.01)
    audio = output_info(clips["audio_only"], kind="aac", key="k")
    assert (audio["codec"], audio["width"]) == ("aac", None)


# The plan.


def video_facts(width: int, height: int, *, rotation: int = 0, fps: float = 30.0, duration_s: float = 60.0, **kw):
    turned = rotation in (90, 270)
    return MediaFacts(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=duration_s,
        video=VideoStreamFacts(
            codec="h264",
            width=width,
            height=height,
            rotation=rotation,
            display_width=height if turned else width,
            display_height=width if turned else height,
            fps=fps,
            **kw,
        ),
    )


def test_ladder_of_a_1080p_source_has_every_rung() -> None:
    rungs = ladder(1920, 1080, 30)
    assert [(r.name, r.width, r.height) for r in rungs] == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    kbps = [r.video_kbps for r in rungs]
    assert kbps == sorted(kbps, reverse=True)
    assert all(r.maxrate_kbps > r.video_kbps and r.bufsize_kbps >= r.maxrate_kbps for r in rungs)


def test_ladder_caps_4k_portrait_at_1080_by_the_shorter_side() -> None:
    rungs = ladder(2160, 3840, 30)
    assert (rungs[0].name, rungs[0].width, rungs[0].height) == ("1080p", 1080, 1920)
    assert [r.name for r in rungs] == ["1080p", "720p", "480p", "360p"]
    assert all(r.height > r.width for r in rungs)


def test_ladder_never_upscales_and_drops_rungs_near_the_top() -> None:
    assert [(r.name, r.width, r.height) for r in ladder(641, 361, 25)] == [("360p", 640, 360)]
    assert [r.name for r in ladder(1280, 700, 25)] == ["700p", "480p", "360p"]
    assert [r.name for r in ladder(320, 180, 30)] == ["180p"]


def test_ladder_dimensions_are_even_and_keep_the_aspect() -> None:
    for width, height in [(641, 361), (1440, 1080), (1080, 1350), (4096, 2160), (201, 357)]:
        for r in ladder(width, height, 30):
            assert r.width % 2 == 0 and r.height % 2 == 0
            assert r.width / r.height == pytest.approx(width / height, rel=0.02)
            assert min(r.width, r.height) <= min(width, height)


def test_max_rung_option_caps_the_top() -> None:
    assert [r.name for r in ladder(1920, 1080, 30, max_rung=720)] == ["720p", "480p", "360p"]


def test_output_frame_rate_is_constant_and_sane() -> None:
    assert output_fps(30.0) == 30.0
    assert output_fps(29.6) == pytest.approx(30000 / 1001, abs=1e-4)
    assert output_fps(23.976) == pytest.approx(24000 / 1001, abs=1e-4)
    assert output_fps(120.0) == 60.0
    assert output_fps(17.045) == 17.0
    assert all(output_fps(f) <= 60 for f in (59.94, 90, 240, 1000))


def test_segments_add_up_to_every_frame() -> None:
    for duration, fps, length in [(600.0, 30000 / 1001, 112.0), (61.3, 25.0, 8.0), (0.5, 30.0, 4.0), (9.0, 24.0, 4.0)]:
        parts = segments(duration, fps, length)
        assert sum(p.frames for p in parts) == round(duration * fps)
        assert parts[0].start_s == 0 and parts[-1].start_s + parts[-1].duration_s == pytest.approx(duration)
        assert all(p.start_s % length == 0 for p in parts)


def test_a_short_remainder_joins_the_last_segment() -> None:
    parts = segments(8.5, 30, 4.0)
    assert [(p.start_s, p.duration_s, p.frames) for p in parts] == [(0.0, 4.0, 120), (4.0, 4.5, 135)]
    assert len(segments(0.5, 30, 4.0)) == 1


def test_segment_length_is_a_multiple_of_gop_and_hls_time_within_the_budget() -> None:
    from offload.media.video.plan import cpu_s_per_source_s

    facts = video_facts(1920, 1080, duration_s=600.0)
    options = VideoOptions()
    plan = make_plan(facts, options)
    assert plan.webm is not None
    assert plan.segment_s % options.hls_time_s == 0 and plan.segment_s % options.gop_s == 0
    assert 1 < len(plan.segments) <= 20
    cost = cpu_s_per_source_s(
        source_pixels=1920 * 1080,
        fps=plan.fps,
        renditions=[*plan.renditions, plan.webm],
        deinterlace=False,
        tonemap=False,
    )
    vcpus = options.transcode_memory_mb / 1769
    assert plan.segment_s * cost / vcpus <= options.segment_budget_s
    # More memory, more vCPUs: longer segments; a smaller budget: shorter ones.
    assert make_plan(facts, VideoOptions(transcode_memory_mb=10240)).segment_s > plan.segment_s
    assert make_plan(facts, VideoOptions(segment_budget_s=60)).segment_s < plan.segment_s


def test_segments_fit_a_short_function_timeout() -> None:
    facts = video_facts(1920, 1080, duration_s=600.0)
    assert (
        make_plan(facts, VideoOptions(), function_timeout_s=120).segment_s < make_plan(facts, VideoOptions()).segment_s
    )


def test_plan_follows_the_facts_and_options() -> None:
    from offload.media.video.plan import WatermarkSpec

    facts = video_facts(1920, 1080, fps=59.94, interlaced=True, hdr=True, color_transfer="smpte2084", variable_fps=True)
    options = VideoOptions(loudness_normalise=True, watermark=WatermarkSpec(text="me"), webm=False)
    plan = make_plan(facts, options)
    assert plan.deinterlace and plan.tonemap and plan.loudness_normalise
    assert plan.watermark == WatermarkSpec(text="me") and plan.webm is None
    assert not plan.audio
    assert plan.fps == pytest.approx(60000 / 1001, abs=1e-4)


def test_webm_is_at_the_top_size() -> None:
    plan = make_plan(video_facts(1280, 720), VideoOptions())
    assert plan.webm is not None and (plan.webm.codec, plan.webm.width, plan.webm.height) == ("vp9", 1280, 720)
    assert plan.renditions[0].name == "720p"


def test_plan_refuses_audio_only_facts() -> None:
    with pytest.raises(ValueError, match="audio"):
        make_plan(MediaFacts(container="mp3", duration_s=3.0), VideoOptions())


def test_scratch_space_covers_the_longest_accepted_source() -> None:
    default = scratch_mb_for(VideoOptions())
    assert 512 <= default <= 10240
    assert scratch_mb_for(VideoOptions(limits=Limits(max_duration_s=600))) < default
    plan = make_plan(video_facts(1920, 1080, duration_s=600.0), VideoOptions())
    assert plan.scratch_mb <= scratch_mb_for(VideoOptions())
    assert RUNGS[0] == 1080
    # Not capped at Lambda's 10,240 MB: the construct refuses limits that need more, instead of
    # deploying functions whose /tmp a long upload would overflow.
    assert scratch_mb_for(VideoOptions(limits=Limits(max_duration_s=6 * 3600))) > 10240


@pytest.mark.parametrize(("gop_s", "hls_time_s"), [(2.0, 5.0), (3.0, 4.0), (0.0, 4.0)])
def test_hls_segments_must_be_whole_keyframe_intervals(gop_s: float, hls_time_s: float) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="multiple of gop_s"):
        VideoOptions(gop_s=gop_s, hls_time_s=hls_time_s)
    assert VideoOptions(gop_s=2.0, hls_time_s=6.0).hls_time_s == 6.0
