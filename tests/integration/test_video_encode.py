"""The transcode chain on generated clips, in-process: make_plan -> encode_segment per segment ->
join_rendition -> package_rendition -> master_playlist, every output decoded back with PyAV."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from offload.media.video import samples
from offload.media.video.encode import encode_segment, join_rendition
from offload.media.video.facts import MediaFacts, MediaInputError, probe
from offload.media.video.ffmpeg import run_ffmpeg
from offload.media.video.hls import Variant, master_playlist, package_rendition
from offload.media.video.plan import Plan, VideoOptions, make_plan
from tests.support.http_files import serve_files

av = pytest.importorskip("av")
m3u8 = pytest.importorskip("m3u8")

# Short keyframe and HLS intervals, and a budget that makes every transcode segment one HLS segment
# long, so a few seconds of video exercise several segments, joins and HLS cuts.
OPTIONS = VideoOptions(gop_s=1.0, hls_time_s=2.0, segment_budget_s=1.0)


@dataclass
class Run:
    """What the chain made of a source."""

    source: Path
    facts: MediaFacts
    plan: Plan
    mp4: dict[str, Path] = field(default_factory=dict)
    webm: Path | None = None
    variants: list[Variant] = field(default_factory=list)
    master: Path | None = None


def audio_tracks(source: Path, out_dir: Path) -> tuple[Path, Path]:
    """The source's audio as AAC (.m4a) and Opus, as the audio task hands them to the joins."""
    aac, opus = out_dir / "audio.m4a", out_dir / "audio.opus"
    run_ffmpeg(["-i", str(source), "-vn", "-c:a", "aac", "-b:a", "96k", str(aac)], what="test aac")
    run_ffmpeg(["-i", str(source), "-vn", "-c:a", "libopus", "-b:a", "64k", str(opus)], what="test opus")
    return aac, opus


def run_chain(source: Path, out: Path, options: VideoOptions = OPTIONS) -> Run:
    facts = probe(str(source))
    plan = make_plan(facts, options)
    run = Run(source, facts, plan)
    parts: dict[str, list[Path]] = {}
    for segment in plan.segments:
        for name, part in encode_segment(str(source), plan, segment, out / "parts" / str(segment.index)).items():
            parts.setdefault(name, []).append(part)
    aac, opus = audio_tracks(source, out) if plan.audio else (None, None)
    for rendition in plan.renditions:
        run.mp4[rendition.name] = join_rendition(parts[rendition.name], out / f"{rendition.name}.mp4", audio=aac)
        run.variants.append(package_rendition(run.mp4[rendition.name], rendition, plan, out / "hls" / rendition.name))
    if plan.webm is not None:
        run.webm = join_rendition(parts["webm"], out / "video.webm", audio=opus)
    run.master = out / "hls" / "master.m3u8"
    run.master.write_text(master_playlist(run.variants))
    return run


@dataclass
class Decoded:
    """A file decoded back: its first video stream's frames and whether it has audio."""

    codec: str
    width: int
    height: int
    pix_fmts: set[str]
    rotations: set[int]
    times: list[float]
    keyframe_times: list[float]
    duration_s: float
    audio: str | None


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        duration = container.duration / 1e6 if container.duration else 0.0
        frames = list(container.decode(stream))
    tb = float(stream.time_base)
    return Decoded(
        codec=stream.codec_context.name,
        width=frames[0].width,
        height=frames[0].height,
        pix_fmts={f.format.name for f in frames},
        rotations={int(f.rotation or 0) for f in frames},
        times=[f.pts * tb for f in frames],
        keyframe_times=[f.pts * tb for f in frames if f.key_frame],
        duration_s=duration,
        audio=audio,
    )


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types, in file order."""
    boxes = []
    with path.open("rb") as f:
        while header := f.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            boxes.append(kind)
            f.seek(size - 8, 1)
    return boxes


def assert_constant_rate(times: list[float], fps: float) -> None:
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert steps, "one frame only"
    assert max(steps) - min(steps) < 0.2 / fps, f"frame intervals vary: {min(steps)}..{max(steps)}"
    assert sum(steps) / len(steps) == pytest.approx(1 / fps, rel=0.01)


def assert_outputs(run: Run, *, display: tuple[int, int]) -> None:
    """Every output: codec, upright and displayed as the source, its duration, audio as the source,
    constant frame rate, 8-bit yuv420p, keyframes every gop_s in source time."""
    plan, facts = run.plan, run.facts
    tolerance = max(1 / plan.fps, 0.1)
    top = plan.renditions[0]
    assert (top.width, top.height) == (display[0] - display[0] % 2, display[1] - display[1] % 2)
    outputs = [(r, run.mp4[r.name], "h264") for r in plan.renditions]
    if plan.webm is not None and run.webm is not None:
        outputs.append((plan.webm, run.webm, "vp9"))
    for rendition, path, codec in outputs:
        d = decode(path)
        assert d.codec == codec, path.name
        assert (d.width, d.height) == (rendition.width, rendition.height), path.name
        assert (d.width > d.height) == (display[0] > display[1]), f"{path.name} turned"
        assert d.rotations == {0}, f"{path.name} carries a rotation"
        assert d.pix_fmts == {"yuv420p"}, path.name
        assert len(d.times) == round(facts.duration_s * plan.fps), path.name
        assert d.duration_s == pytest.approx(facts.duration_s, abs=tolerance), path.name
        assert (d.audio is not None) == (facts.audio is not None), path.name
        assert_constant_rate(d.times, plan.fps)
        if path.suffix == ".mp4":
            boxes = top_level_boxes(path)
            assert boxes.index("moov") < boxes.index("mdat"), f"{path.name} is not faststart: {boxes}"
        expected = [t * plan.gop_s for t in range(int(facts.duration_s / plan.gop_s - 1e-6) + 1)]
        assert d.keyframe_times == pytest.approx(expected, abs=1.01 / plan.fps), f"{path.name} keyframes"
    assert_hls(run)


def assert_hls(run: Run) -> None:
    """The package parses; EXTINF rounds to <= TARGETDURATION; every segment exists and starts with a
    keyframe; the renditions' segment boundaries are the same; the master lists each rendition."""
    plan = run.plan
    boundaries = []
    for variant in run.variants:
        playlist_path = run.master.parent / variant.uri
        playlist = m3u8.load(str(playlist_path))
        assert playlist.is_endlist and playlist.playlist_type == "vod"
        assert playlist.segments, variant.name
        durations = []
        for segment in playlist.segments:
            assert round(segment.duration) <= playlist.target_duration
            ts = playlist_path.parent / segment.uri
            assert ts.is_file(), ts
            with av.open(str(ts)) as container:
                first = next(container.demux(container.streams.video[0]))
                assert first.is_keyframe, f"{variant.name} {segment.uri} starts without a keyframe"
                if run.facts.audio is not None:
                    assert container.streams.audio, f"{segment.uri} has no audio"
            durations.append(round(segment.duration, 2))
        assert sum(durations) == pytest.approx(run.facts.duration_s, abs=max(0.1, 1 / plan.fps))
        assert all(d <= plan.hls_time_s + 1e-6 for d in durations[:-1])
        boundaries.append(durations)
    assert all(b == boundaries[0] for b in boundaries), "renditions cut at different instants"
    master = m3u8.load(str(run.master))
    assert master.is_variant
    listed = [(p.stream_info.resolution, p.uri) for p in master.playlists]
    assert listed == [((v.width, v.height), v.uri) for v in run.variants]  # tallest first, as the ladder
    for p, v in zip(master.playlists, run.variants, strict=True):
        info = p.stream_info
        assert info.bandwidth >= info.average_bandwidth > 0
        assert info.frame_rate == pytest.approx(plan.fps, abs=0.001)
        codecs = info.codecs.split(",")
        assert codecs[0].startswith("avc1.64")  # High profile
        assert ("mp4a.40.2" in codecs) == (run.facts.audio is not None)
        assert v.codecs == info.codecs
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in run.master.read_text()


def chain(tmp_path: Path, make: Callable[[Path], Path], name: str = "in.mp4") -> Run:
    return run_chain(make(tmp_path / "src" / name), tmp_path / "out")


def test_landscape_clip_with_audio_makes_every_output(tmp_path: Path) -> None:
    run = chain(tmp_path, lambda p: samples.landscape(p, width=640, height=480, duration_s=5.0))
    assert [r.name for r in run.plan.renditions] == ["480p", "360p"]
    assert len(run.plan.segments) == 3
    assert_outputs(run, display=(640, 480))


@pytest.mark.slow
def test_ntsc_rate_keeps_every_planned_frame(tmp_path: Path) -> None:
    # 29.97 fps for 9 s: the container (the audio) runs past the last video frame, and the keyframes
    # fall a frame after the whole seconds; every rendition still has round(duration * fps) frames.
    source = samples.landscape(tmp_path / "ntsc.mp4", width=160, height=90, duration_s=9.0, fps=30000 / 1001)
    run = run_chain(source, tmp_path / "out", VideoOptions(webm=False, segment_budget_s=1.0))
    assert run.plan.fps == pytest.approx(30000 / 1001, abs=1e-4) and len(run.plan.segments) == 3
    assert_outputs(run, display=(160, 90))


@pytest.mark.slow
def test_rotated_portrait_clip_stays_portrait_and_upright(tmp_path: Path) -> None:
    run = chain(tmp_path, lambda p: samples.portrait(p, duration_s=3.0), "portrait clip é.mp4")
    assert run.facts.video.rotation == 90
    assert_outputs(run, display=(180, 320))


@pytest.mark.slow
@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_upright_output_shows_what_the_player_showed(tmp_path: Path, clockwise: int) -> None:
    # testsrc2's pattern is not symmetric: the turned source's first frame, as a player shows it
    # (PyAV doesn't rotate), equals the output's first frame.
    from PIL import Image, ImageChops

    source = samples.portrait(tmp_path / "p.mp4", duration_s=1.0, rotation=clockwise)
    run = run_chain(source, tmp_path / "out", VideoOptions(webm=False))
    turn = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    with av.open(str(source)) as c:
        shown = next(c.decode(video=0)).to_image().transpose(turn[clockwise])  # PIL turns counter-clockwise
    with av.open(str(run.mp4[run.plan.renditions[0].name])) as c:
        out = next(c.decode(video=0)).to_image()
    assert out.size == shown.size == ((320, 180) if clockwise == 180 else (180, 320))
    diff = ImageChops.difference(out.convert("L"), shown.convert("L"))
    assert sum(diff.get_flattened_data()) / (180 * 320) < 12, "the output is turned differently from the player's view"


@pytest.mark.slow
def test_odd_dimensions_become_even(tmp_path: Path) -> None:
    run = chain(tmp_path, samples.odd_dimensions)
    assert [(r.width, r.height) for r in run.plan.renditions] == [(640, 360)]
    assert_outputs(run, display=(641, 361))


@pytest.mark.slow
def test_non_square_pixels_become_square_at_the_displayed_size(tmp_path: Path) -> None:
    run = chain(tmp_path, samples.anamorphic)
    assert_outputs(run, display=(640, 360))
    with av.open(str(run.mp4["360p"])) as c:
        assert c.streams.video[0].sample_aspect_ratio in (None, 0, 1)


@pytest.mark.slow
def test_variable_frame_rate_becomes_constant(tmp_path: Path) -> None:
    run = chain(tmp_path, samples.variable_frame_rate)
    assert run.facts.video.variable_fps
    assert_outputs(run, display=(320, 180))


@pytest.mark.slow
def test_clip_without_audio_has_no_audio_outputs(tmp_path: Path) -> None:
    run = chain(tmp_path, lambda p: samples.no_audio(p, duration_s=3.0))
    assert not run.plan.audio
    assert_outputs(run, display=(320, 180))


@pytest.mark.slow
def test_ten_bit_hdr_becomes_eight_bit_sdr(tmp_path: Path) -> None:
    run = chain(tmp_path, samples.hdr10)
    assert run.plan.tonemap
    assert_outputs(run, display=(320, 180))
    with av.open(str(run.mp4[run.plan.renditions[0].name])) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.pix_fmt, ctx.color_trc) == ("yuv420p", 1)  # BT.709


@pytest.mark.slow
def test_hlg_becomes_eight_bit_sdr(tmp_path: Path) -> None:
    run = chain(tmp_path, lambda p: samples.hdr10(p, transfer="arib-std-b67", duration_s=1.0))
    assert run.plan.tonemap
    assert_outputs(run, display=(320, 180))


@pytest.mark.slow
def test_browser_recording_without_a_duration_transcodes(tmp_path: Path) -> None:
    run = chain(tmp_path, lambda p: samples.browser_recording(p, duration_s=3.0), "rec.webm")
    assert len(run.plan.segments) == 1 or run.plan.segments[1].start_s == 2.0
    assert_outputs(run, display=(320, 180))


@pytest.mark.slow
def test_watermark_changes_only_its_corner(tmp_path: Path) -> None:
    from PIL import Image, ImageChops

    from offload.media.video.plan import WatermarkSpec
    from offload.media.video.watermark import overlay_filter, watermark_png

    spec = WatermarkSpec(text="offload", position="bottom-right", opacity=1.0)
    try:
        overlay_filter(spec, 320, 180, video="a", mark="b", out="c")
        mark = watermark_png(spec, tmp_path / "mark.png")
    except NotImplementedError:
        pytest.skip("the watermark helper is not merged yet")
    source = samples.no_audio(tmp_path / "src.mp4", duration_s=1.0)
    facts = probe(str(source))
    frames = {}
    for name, options, png in [
        ("plain", VideoOptions(webm=False), None),
        ("marked", VideoOptions(webm=False, watermark=spec), mark),
    ]:
        plan = make_plan(facts, options)
        part = encode_segment(str(source), plan, plan.segments[0], tmp_path / name, watermark_png=png)["180p"]
        with av.open(str(part)) as c:
            frames[name] = next(c.decode(video=0)).to_image().convert("L")
    diff = ImageChops.difference(frames["plain"], frames["marked"]).point(lambda v: 255 if v > 40 else 0)
    box = diff.getbbox()
    assert box is not None, "the watermark is not visible"
    assert box[0] >= 320 // 2 and box[1] >= 180 // 2, f"the watermark is outside the bottom-right: {box}"
    assert isinstance(frames["plain"], Image.Image)


@pytest.mark.slow
def test_interlaced_clip_is_deinterlaced(tmp_path: Path) -> None:
    run = chain(tmp_path, samples.interlaced)
    assert run.plan.deinterlace
    assert_outputs(run, display=(320, 180))
    with av.open(str(run.mp4[run.plan.renditions[0].name])) as c:
        assert not any(f.interlaced_frame for f in c.decode(video=0))


@pytest.mark.slow
def test_clip_under_a_second_is_one_segment(tmp_path: Path) -> None:
    run = chain(tmp_path, samples.short)
    assert len(run.plan.segments) == 1
    assert_outputs(run, display=(320, 180))


def test_http_source_transcodes_like_a_path(tmp_path: Path) -> None:
    # The Map tasks read the source through a presigned URL, seeking to their segment.
    source = samples.no_audio(tmp_path / "src" / "a clip.mp4", width=160, height=90, duration_s=3.0)
    facts = probe(str(source))
    plan = make_plan(facts, VideoOptions(gop_s=1.0, hls_time_s=1.0, segment_budget_s=1.0, webm=False))
    with serve_files(source.parent) as base:
        url = f"{base}/a%20clip.mp4"
        assert probe(url, size=source.stat().st_size) == facts
        parts = [encode_segment(url, plan, s, tmp_path / str(s.index))["90p"] for s in plan.segments]
    joined = join_rendition(parts, tmp_path / "90p.mp4")
    d = decode(joined)
    assert len(plan.segments) == 3 and len(d.times) == 3 * 30 == len(set(d.times))
    assert d.keyframe_times == pytest.approx([0.0, 1.0, 2.0], abs=0.034)


def test_truncated_http_source_is_refused_and_a_missing_one_retried(tmp_path: Path) -> None:
    samples.truncated(tmp_path / "cut.mp4")
    with serve_files(tmp_path) as base:
        with pytest.raises(MediaInputError) as caught:
            probe(f"{base}/cut.mp4")
        # An unreachable source is not the upload's fault: not a MediaInputError, so it is retried.
        with pytest.raises(av.error.HTTPNotFoundError):
            probe(f"{base}/gone.mp4", size=1000)
    assert caught.value.code == "truncated"
