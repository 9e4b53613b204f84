"""Video pipeline: offload's segment-by-segment transcode against one hand-written ffmpeg command.

One run on a generated clip (60 s 1080p30 with audio by default; `--quick` is a 10 s 720p smoke run):

1. **CPU-seconds.** Our pipeline is the media functions the state machine's steps call, in the
   steps' order (offload/packs/video/steps.py), serially in this process: probe -> make_plan ->
   encode_segment per segment, encode_audio once -> join_rendition per output (MP4, WebM, and each
   HLS rung, whose joined file package_rendition then segments) -> master_playlist, poster,
   sprite_sheet. S3 is left out (on Lambda it is I/O, not CPU). The peer is ONE ffmpeg command
   making the same outputs from one decode: the same ladder and encoder settings (x264 and VP9
   options built from offload.media.video.encode's constants; the x264 option strings written into
   both sides' streams are compared), `split` to every rendition, each video stream encoded once
   and written to its MP4 and its HLS rung through the `tee` muxer, AAC encoded once for the MP4,
   every HLS rung and audio.m4a, Opus once for the WebM and audio.opus, poster and sprite frames
   from branches of the same decode. CPU is user+sys: `getrusage(RUSAGE_CHILDREN)` deltas (ffmpeg)
   plus `RUSAGE_SELF` (PyAV's probe, poster and sprite decodes, Pillow, Python). The reference
   runs first, then ours. Then one short segment (`gop_s` long) is encoded on its own; with the
   pipeline's segments that gives a line cost(d) = a + b * d per transcode task: `a` is what every
   task pays again (ffmpeg start, the decoder's and x264's lookahead warm-up, VP9's first frames,
   a seek to the segment's keyframe), so the overhead at the plan's own segment length is printed
   too.
2. **Segment-parallel wall time**: the transcode tasks (every segment + the audio task) in a
   process pool of 1, 2 and 4 workers (the 1-worker figure is the serial run's, same calls, one at
   a time). Then a model of a 10-minute upload on Lambda (`--model-minutes`): the plan's own
   segments for it, each task's CPU from the line above, times `--arm64-factor` (Lambda arm64 is
   Graviton2; this machine's cores are faster at x264/libvpx: default 1.5, the plan's own
   ARM64_FACTOR), spread over the function's vCPUs (memory / 1,769 MB) at the thread utilisation
   measured here, plus a cold start per task and S3 transfer at stated rates; Map tasks scheduled
   on VideoOptions.map_concurrency slots. An estimate, not a measurement.
3. **Quality per bit**: VMAF (libvmaf, model vmaf_v0.6.1) and PSNR of the 720p rendition (the
   rung closest to 720p below the top when the clip is smaller) against the source, the standard
   way: the rendition upscaled (bicubic) to the source's size, all frames (`--vmaf-subsample`).
   Also VMAF of the reference command's 720p (the same settings without segmenting) and at 720p
   against the source scaled down (encoding loss alone, without the loss of the smaller size), and
   PSNR of every video output; bytes per output minute of every output.
4. **Cost per output minute** of the 10-minute model on Lambda (arm64 GB-s of the modelled task
   durations, requests, Step Functions Standard transitions, S3 requests, the video record's
   DynamoDB writes), next to AWS Elemental MediaConvert's on-demand price for the same video
   outputs. Prices: `PRICES_USD` (bench/job_overhead.py) plus `VIDEO_PRICES_USD` below; check
   before quoting. docs/cost.md ("Video") carries the figures of the last full run.

The clip (cached in bench/.cache): a Mandelbrot still rendered at twice the frame size and
slightly blurred (detail at the scale a camera resolves, not pixel-level noise), panned
smoothly (global motion, fine texture next to smooth gradients), with testsrc2's moving colour
bars, gradient and clock overlaid as a third of the frame sliding across (local motion, edges,
text; blurred by 0.8 px as a lens would, since pixel-sharp synthetic edges alone cap a 720p
rendition at VMAF ~94), and light temporal grain; audio is a 440 Hz tone over pink noise, stereo
48 kHz.
The source is H.264 High CRF 16 (about 5-15 Mbps at 1080p30, like a phone's upload) + AAC 192 kbps.

Run from the repo root: `make bench-video` or `.venv/bin/python bench/video.py [--quick] [--json]`.
Exits 1 when a target is missed (not with --quick: a smoke run's figures are not the targets').
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from job_overhead import PRICES_USD  # noqa: E402  (bench/ is the script's directory, so on the path)

from offload.media.video import encode as encode_module  # noqa: E402
from offload.media.video.audio import encode_audio  # noqa: E402
from offload.media.video.encode import encode_segment, join_rendition  # noqa: E402
from offload.media.video.facts import MediaFacts, probe  # noqa: E402
from offload.media.video.ffmpeg import run_ffmpeg  # noqa: E402
from offload.media.video.hls import Variant, master_playlist, package_rendition  # noqa: E402
from offload.media.video.plan import (  # noqa: E402
    ARM64_FACTOR,
    LAMBDA_MB_PER_VCPU,
    Plan,
    Rendition,
    Segment,
    VideoOptions,
    make_plan,
    segments,
)
from offload.media.video.previews import SPRITE_MAX_TILES, Sprite, poster, sprite_sheet  # noqa: E402

SOURCE_VERSION = 2  # bump when the clip's recipe changes (the cache key)
CACHE = BENCH / ".cache"
FPS = 30

TARGET_OVERHEAD = 0.10  # our CPU-seconds at most 10% above the one-command reference
TARGET_VMAF_720 = 93.0

# Prices the job bench does not carry (us-east-1, on-demand, USD; check before quoting; docs/cost.md):
# Step Functions Standard: aws.amazon.com/step-functions/pricing. MediaConvert: the on-demand
# per-output-minute rates at <= 30 fps (AVC single-pass or VP9 in the Basic tier; AVC single-pass in
# the Professional tier). See docs/cost.md "Video" for where each figure comes from.
VIDEO_PRICES_USD = {
    "sfn_standard_transition": 0.025 / 1000,
    "mediaconvert_basic_sd_min": 0.0075,
    "mediaconvert_basic_hd_min": 0.015,
    "mediaconvert_basic_uhd_min": 0.030,
    "mediaconvert_pro_sd_min": 0.012,
    "mediaconvert_pro_hd_min": 0.024,
    "mediaconvert_pro_uhd_min": 0.048,
}
# The video.process job itself (SQS, DynamoDB, EventBridge, the worker's Lambda): a successful
# job's cost per docs/cost.md ("Cost per million jobs", bench/job_overhead.py).
JOB_USD = 6.65 / 1e6

# Lambda model assumptions (an estimate; docs/cost.md says why each is what it is).
COLD_START_S = 1.5  # a Map task's fresh environment: Python + the ffmpeg layer's 130 MB binary
S3_MB_PER_S = 80.0  # one Lambda's large GET/PUT throughput (boto3 transfer manager)
S3_REQUEST_S = 0.03  # per small object (HLS segments, playlists)
SOURCE_RANGE_GETS = 2  # a task reading the source by presigned URL: the index, then its segment
TRANSITION_S = 0.05  # Step Functions' own latency per state

Say = Callable[[str], None]


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Stage:
    """Wall time and CPU-seconds (this process, and the ffmpeg children it waited for) of one step."""

    name: str
    wall_s: float
    self_cpu_s: float
    child_cpu_s: float

    @property
    def cpu_s(self) -> float:
        return self.self_cpu_s + self.child_cpu_s


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def metered(stages: list[Stage], name: str) -> Iterator[None]:
    """Append the Stage of the `with` body to `stages`."""
    self0, child0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    yield
    stages.append(
        Stage(
            name,
            time.perf_counter() - t0,
            _cpu(resource.RUSAGE_SELF) - self0,
            _cpu(resource.RUSAGE_CHILDREN) - child0,
        )
    )


def total(stages: list[Stage], prefix: str = "") -> Stage:
    """The sum of the stages whose name starts with `prefix`."""
    chosen = [s for s in stages if s.name.startswith(prefix)]
    return Stage(
        prefix or "total",
        sum(s.wall_s for s in chosen),
        sum(s.self_cpu_s for s in chosen),
        sum(s.child_cpu_s for s in chosen),
    )


# --- the clip -----------------------------------------------------------------------------------


def even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def source_clip(cache: Path, duration_s: float, height: int, say: Say) -> Path:
    """The generated source (see the module docstring), made once per size and duration."""
    width = even(height * 16 / 9)
    path = cache / f"src-{duration_s:g}s-{height}p-v{SOURCE_VERSION}.mp4"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    say(f"generating the {duration_s:g} s {width}x{height} source (cached in {path.parent}) ...")
    blur = 1.5 * height / 1080
    still = (
        f"mandelbrot=s={2 * width}x{2 * height}:r=1:maxiter=1024:start_x=-0.7436438870:start_y=0.1318259042:"
        "start_scale=0.004:end_scale=0.004:outer=normalized_iteration_count,trim=end_frame=1,"
        f"gblur=sigma={blur:.2f},loop=loop=-1:size=1,fps={FPS},setpts=N/{FPS}/TB,"
        f"crop={width}:{height}:x='(iw-ow)/2*(1+sin(t/6))':y='(ih-oh)/2*(1+cos(t/4))'[bg]"
    )
    # A camera never resolves pixel-sharp edges: testsrc2's bars and text as generated cap any 720p
    # rendition of the clip at VMAF ~94 (measured), so they get a lens-like 0.8 px blur (at 1080p).
    bars = f"testsrc2=s={even(width / 3)}x{even(height / 3)}:r={FPS},gblur=sigma={0.8 * height / 1080:.2f}[fg]"
    moving = f"[bg][fg]overlay=x='mod(t*{width / 8:.0f}\\,W-w)':y='H-h-{height // 13}+{height // 18}*sin(t)'"
    video = f"{moving},noise=alls=2:allf=t,format=yuv420p[v]"
    audio = (
        "sine=f=440:r=48000[tone];anoisesrc=r=48000:c=pink:a=0.08[hiss];"
        "[tone][hiss]amix=inputs=2,pan=stereo|c0=c0|c1=c0[a]"
    )
    partial = path.with_suffix(".partial.mp4")
    args = [
        "-loglevel", "error", "-filter_complex", f"{still};{bars};{video};{audio}",
        "-map", "[v]", "-map", "[a]", "-t", f"{duration_s:g}",
        "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-profile:v", "high", "-g", str(FPS),
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
        "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", str(partial),
    ]  # fmt: skip
    run_ffmpeg(args, what="generate the bench source")
    partial.rename(path)
    return path


# --- our pipeline -------------------------------------------------------------------------------


def plan_for(facts: MediaFacts, options: VideoOptions, segment_s: float | None) -> Plan:
    """The plan make_plan makes, with `segment_s` segments instead of its own when asked."""
    plan = make_plan(facts, options)
    if segment_s is None or segment_s == plan.segment_s:
        return plan
    if segment_s <= 0 or abs(segment_s / plan.gop_s - round(segment_s / plan.gop_s)) > 1e-9:
        raise SystemExit(f"--segment-s {segment_s:g}: give a multiple of the plan's gop_s ({plan.gop_s:g} s)")
    return plan.model_copy(update={"segment_s": segment_s, "segments": segments(plan.duration_s, plan.fps, segment_s)})


@dataclass
class PipelineRun:
    """What our pipeline made, and what each step cost."""

    facts: MediaFacts
    plan: Plan
    out: Path
    joined: dict[str, Path]  # rendition name -> the joined MP4 that HLS rung was packaged from
    sprite: Sprite
    stages: list[Stage] = field(default_factory=list)


def run_pipeline(source: Path, options: VideoOptions, segment_s: float | None, out: Path, say: Say) -> PipelineRun:
    """The media functions in the steps' order (offload/packs/video/steps.py), one at a time."""
    stages: list[Stage] = []
    work = out.parent / f"{out.name}-work"
    with metered(stages, "probe"):
        facts = probe(str(source), size=source.stat().st_size, limits=options.limits)
    with metered(stages, "plan"):
        plan = plan_for(facts, options, segment_s)
    parts: list[dict[str, Path]] = []
    for segment in plan.segments:
        with metered(stages, f"transcode segment {segment.index}"):
            parts.append(encode_segment(str(source), plan, segment, work / "parts" / f"{segment.index:05d}"))
        say(f"  segment {segment.index + 1}/{len(plan.segments)}: {stages[-1].cpu_s:.1f} CPU-s")
    audio: dict[str, Path] = {}
    if plan.audio:
        with metered(stages, "transcode audio"):
            audio = encode_audio(
                str(source), work / "audio", formats=("aac", "opus"), loudness_normalise=plan.loudness_normalise
            )
    top = plan.renditions[0]
    with metered(stages, "join mp4"):
        join_rendition([p[top.name] for p in parts], out / "video.mp4", audio=audio.get("aac"))
    if plan.webm is not None:
        with metered(stages, "join webm"):
            join_rendition([p[plan.webm.name] for p in parts], out / "video.webm", audio=audio.get("opus"))
    variants: list[Variant] = []
    joined: dict[str, Path] = {}
    for r in plan.renditions:
        with metered(stages, f"join hls {r.name}"):
            joined[r.name] = join_rendition(
                [p[r.name] for p in parts], work / f"joined-{r.name}.mp4", audio=audio.get("aac")
            )
            variants.append(package_rendition(joined[r.name], r, plan, out / "hls" / r.name))
    with metered(stages, "package master"):
        (out / "hls" / "master.m3u8").write_text(master_playlist(variants), encoding="utf-8")
    with metered(stages, "package poster"):
        poster(out / "video.mp4", out / "poster.jpg", duration_s=plan.duration_s)
    with metered(stages, "package sprite"):
        sprite = sprite_sheet(
            out / "video.mp4",
            out / "sprite.jpg",
            out / "sprite.vtt",
            duration_s=plan.duration_s,
            interval_s=plan.sprite_interval_s,
            image_uri="sprite.jpg",
        )
    for path in audio.values():  # the package step copies them to the outputs (S3, no CPU)
        shutil.copy(path, out / path.name)
    return PipelineRun(facts, plan, out, joined, sprite, stages)


def short_task_cpu(source: Path, plan: Plan, work: Path) -> Stage:
    """One transcode task of a single GOP at the start of the source: the per-task fixed cost's probe."""
    frames = max(1, round(plan.gop_s * plan.fps))
    short = Segment(index=0, start_s=0.0, duration_s=frames / plan.fps, frames=frames)
    stages: list[Stage] = []
    with metered(stages, "short task"):
        encode_segment(str(source), plan, short, work)
    return stages[0]


# --- the reference: one ffmpeg command ---------------------------------------------------------

_TEE_UNSAFE = re.compile(r"[\[\]|:'\\,]")


def _x264(i: int, r: Rendition, plan: Plan) -> list[str]:
    keyint = encode_module.keyframe_interval(plan) + 1
    s = f"v:{i}"
    return [
        f"-c:{s}", "libx264", f"-profile:{s}", "high", f"-preset:{s}", encode_module.X264_PRESET,
        f"-crf:{s}", str(encode_module.X264_CRF), f"-maxrate:{s}", f"{r.maxrate_kbps}k",
        f"-bufsize:{s}", f"{r.bufsize_kbps}k",
        f"-x264-params:{s}", f"keyint={keyint}:min-keyint={keyint // 2 + 1}:scenecut=0",
        f"-force_key_frames:{s}", f"expr:gte(t,n_forced*{plan.gop_s:g})",
    ]  # fmt: skip


def _vp9(r: Rendition, plan: Plan) -> list[str]:
    keyint = encode_module.keyframe_interval(plan) + 1
    return [
        "-c:v", "libvpx-vp9", "-deadline", encode_module.VP9_DEADLINE, "-cpu-used", str(encode_module.VP9_CPU_USED),
        "-row-mt", "1", "-crf", str(encode_module.VP9_CRF), "-b:v", f"{r.maxrate_kbps}k",
        "-maxrate", f"{r.maxrate_kbps}k", "-bufsize", f"{r.bufsize_kbps}k", "-g", str(keyint),
        "-force_key_frames", f"expr:gte(t,n_forced*{plan.gop_s:g})",
    ]  # fmt: skip


_COLOUR = ["-pix_fmt", "yuv420p", "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]


def reference_args(source: Path, plan: Plan, sprite: Sprite, out: Path) -> list[str]:
    """The hand-written command: one decode, `split` to every output, each stream encoded once."""
    if _TEE_UNSAFE.search(str(out)):
        raise SystemExit(f"{out}: the tee muxer needs an output path without []|:',\\")
    h264 = plan.renditions
    n = len(h264) + (1 if plan.webm else 0)
    chain = [encode_module.DEINTERLACE] if plan.deinterlace else []
    chain += [encode_module.TONEMAP] if plan.tonemap else []
    # No tpad here: the pipeline pads a part to its planned frames; one run has every frame anyway.
    chain.append(f"fps=fps={encode_module.fps_fraction(plan.fps)}:start_time=0")
    labels = "".join(f"[s{i}]" for i in range(n))
    graph = [f"[0:V:0]{','.join(chain)},split={n + 2}{labels}[sp][ss]"]
    for i, r in enumerate([*h264, *([plan.webm] if plan.webm else [])]):
        graph.append(f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]")
    # Poster: the most representative of 10 frames sampled over the video (ours: the most detailed
    # of 10); sprite: a tile every interval at the sheet's tile size and grid.
    skip = 0.5 if plan.duration_s > 1.0 else 0.0
    rate = 10 / max(plan.duration_s - skip, 0.1)
    graph.append(f"[sp]trim=start={skip},fps={rate:.6f},thumbnail=n=10[poster]")
    graph.append(
        f"[ss]fps=1/{sprite.interval_s:g},scale={sprite.tile_width}:{sprite.tile_height}:flags=lanczos,"
        f"tile={sprite.columns}x{sprite.rows}[sprite]"
    )
    if plan.audio:
        graph.append("[0:a:0]aresample=48000,asplit=2[aa][ao]")
    args = ["-loglevel", "error", "-i", str(source), "-filter_complex", ";".join(graph)]
    # 1. every H.264 rung and AAC, once each: the MP4, each HLS rung and audio.m4a through tee.
    for i in range(len(h264)):
        args += ["-map", f"[v{i}]"]
    audio_sel = ",a" if plan.audio else ""
    if plan.audio:
        args += ["-map", "[aa]", "-c:a", "aac", "-profile:a", "aac_low", "-b:a", f"{plan.audio_kbps}k"]
    for i, r in enumerate(h264):
        args += _x264(i, r, plan)
    slaves = [f"[select=\\'v:0{audio_sel}\\':f=mp4:movflags=+faststart]{out}/video.mp4"]
    for i, r in enumerate(h264):
        rung = out / "hls" / r.name
        rung.mkdir(parents=True, exist_ok=True)
        slaves.append(
            f"[select=\\'v:{i}{audio_sel}\\':f=hls:hls_time={plan.hls_time_s:g}:hls_playlist_type=vod:"
            f"hls_flags=independent_segments:hls_segment_type=mpegts:hls_segment_filename={rung}/seg_%05d.ts]"
            f"{rung}/index.m3u8"
        )
    if plan.audio:
        slaves.append(f"[select=a:f=mp4:movflags=+faststart]{out}/audio.m4a")
    args += [*_COLOUR, "-flags", "+global_header", "-map_metadata", "-1", "-f", "tee", "|".join(slaves)]
    # 2. VP9 and Opus, once each: the WebM and audio.opus.
    if plan.webm is not None:
        args += ["-map", f"[v{len(h264)}]", *(["-map", "[ao]"] if plan.audio else []), *_vp9(plan.webm, plan)]
        webm_slaves = [f"[f=webm]{out}/video.webm"]
        if plan.audio:
            args += ["-c:a", "libopus", "-ar", "48000", "-b:a", f"{plan.audio_kbps}k"]
            webm_slaves.append(f"[select=a:f=opus]{out}/audio.opus")
        args += [*_COLOUR, "-map_metadata", "-1", "-f", "tee", "|".join(webm_slaves)]
    # 3. poster and sprite sheet.
    args += ["-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3", str(out / "poster.jpg")]
    args += ["-map", "[sprite]", "-frames:v", "1", "-update", "1", "-q:v", "5", str(out / "sprite.jpg")]
    return args


def run_reference(source: Path, plan: Plan, sprite: Sprite, out: Path) -> Stage:
    out.mkdir(parents=True, exist_ok=True)
    args = reference_args(source, plan, sprite, out)
    stages: list[Stage] = []
    with metered(stages, "reference"):
        run_ffmpeg(args, what="the reference command")
    (out / "reference-command.txt").write_text(" ".join(args), encoding="utf-8")
    return stages[0]


_X264_OPTIONS = re.compile(rb"x264 - core \d+[^\x00]*?options: ([^\x00]+)")


def x264_options(path: Path) -> dict[str, str]:
    """The option string libx264 writes into the first frame's SEI, as {name: value}."""
    import av

    with av.open(str(path)) as container:
        for i, packet in enumerate(container.demux(container.streams.video[0])):
            found = _X264_OPTIONS.search(bytes(packet))
            if found is not None or i >= 3:
                break
    if found is None:
        return {}
    options = {}
    for item in found.group(1).decode("ascii", "replace").split():
        name, _, value = item.partition("=")
        options[name] = value
    return options


def settings_match(run: PipelineRun, ref: Path) -> list[str]:
    """The x264 options that differ between our renditions and the reference's (empty: identical)."""
    problems = []
    for r in run.plan.renditions:
        ours = x264_options(run.joined[r.name])
        theirs = x264_options(ref / "hls" / r.name / "seg_00000.ts")
        if not ours or not theirs:
            problems.append(f"{r.name}: no x264 option string found")
            continue
        diff = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        problems += [f"{r.name}: {k} ours={ours.get(k)} reference={theirs.get(k)}" for k in diff]
    return problems


# --- segment-parallel ---------------------------------------------------------------------------


def _task(args: tuple[str, str, dict[str, Any], int | None, str]) -> None:
    kind, source, plan_doc, index, out = args
    plan = Plan.model_validate(plan_doc)
    if kind == "audio":
        encode_audio(source, Path(out), formats=("aac", "opus"), loudness_normalise=plan.loudness_normalise)
    else:
        assert index is not None
        encode_segment(source, plan, plan.segments[index], Path(out))


def parallel_wall(source: Path, plan: Plan, workers: int, work: Path) -> float:
    """Wall time of every transcode task (segments, then audio) on a pool of `workers` processes."""
    doc = plan.model_dump(mode="json")
    tasks: list[tuple[str, str, dict[str, Any], int | None, str]] = [
        ("segment", str(source), doc, s.index, str(work / f"seg{s.index}")) for s in plan.segments
    ]
    if plan.audio:
        tasks.append(("audio", str(source), doc, None, str(work / "audio")))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_task, tasks))
    wall = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    return wall


# --- quality ------------------------------------------------------------------------------------


# Frames are paired by index, not timestamp: WebM's millisecond timestamps (33 ms for 33.3) would
# otherwise pair a frame with its predecessor two times in three, and HLS starts at an offset. Every
# output and the source are constant-rate (FPS), with the same frames.
_BY_INDEX = f"settb=AVTB,setpts=N/{FPS}/TB"


def vmaf(
    distorted: str,
    reference: Path,
    width: int,
    height: int,
    subsample: int,
    log: Path,
    *,
    through: tuple[int, int] | None = None,
) -> dict[str, float]:
    """VMAF (vmaf_v0.6.1) and PSNR-Y of `distorted` scaled (bicubic) to width x height, against
    `reference` scaled to the same size (a no-op when it is that size already). `through`: scale the
    distorted to that size first (the source through a rung's size, unencoded: the ceiling)."""
    first = f"scale={through[0]}:{through[1]}:flags=bicubic," if through else ""
    graph = (
        f"[0:v]{first}scale={width}:{height}:flags=bicubic,{_BY_INDEX}[d];"
        f"[1:v]scale={width}:{height}:flags=bicubic,{_BY_INDEX}[r];"
        f"[d][r]libvmaf=model=version=vmaf_v0.6.1:feature=name=psnr:n_threads={os.cpu_count() or 1}:"
        f"n_subsample={subsample}:eof_action=endall:log_fmt=json:log_path={log}"
    )
    run_ffmpeg(["-loglevel", "error", "-i", distorted, "-i", str(reference), "-lavfi", graph, "-f", "null", "-"],
               what=f"VMAF of {distorted}")  # fmt: skip
    pooled = json.loads(log.read_text())["pooled_metrics"]
    return {"vmaf": pooled["vmaf"]["mean"], "vmaf_min": pooled["vmaf"]["min"], "psnr_y": pooled["psnr_y"]["mean"]}


_PSNR_LINE = re.compile(r"PSNR y:([\d.inf]+) u:([\d.inf]+) v:([\d.inf]+) average:([\d.inf]+)")


def psnr(distorted: str | Path, reference: Path, width: int, height: int) -> float:
    """PSNR-Y (dB) of `distorted` upscaled (bicubic) to the source's size, against the source."""
    graph = f"[0:v]scale={width}:{height}:flags=bicubic,{_BY_INDEX}[d];[1:v]{_BY_INDEX}[r];[d][r]psnr=eof_action=endall"
    stderr = run_ffmpeg(["-i", str(distorted), "-i", str(reference), "-lavfi", graph, "-f", "null", "-"],
                        what=f"PSNR of {distorted}")  # fmt: skip
    found = _PSNR_LINE.findall(stderr)
    if not found:
        raise RuntimeError(f"no PSNR line in ffmpeg's output for {distorted}")
    return float(found[-1][0])


def quality_rung(plan: Plan) -> Rendition:
    """720p, else the tallest rung below the top (the whole ladder when there is one rung)."""
    by_name = {r.name: r for r in plan.renditions}
    if "720p" in by_name:
        return by_name["720p"]
    below = plan.renditions[1:] or plan.renditions
    return min(below, key=lambda r: abs(min(r.width, r.height) - 720))


# --- outputs ------------------------------------------------------------------------------------


def output_sizes(out: Path, plan: Plan) -> dict[str, int]:
    """Bytes of each output: files, and each HLS rung's playlist + segments together."""
    sizes: dict[str, int] = {}
    for name in ("video.mp4", "video.webm", "audio.m4a", "audio.opus", "poster.jpg", "sprite.jpg", "sprite.vtt"):
        if (out / name).exists():
            sizes[name] = (out / name).stat().st_size
    for r in plan.renditions:
        rung = out / "hls" / r.name
        if rung.is_dir():
            sizes[f"hls {r.name}"] = sum(f.stat().st_size for f in rung.iterdir() if f.is_file())
    if (out / "hls" / "master.m3u8").exists():
        sizes["hls master"] = (out / "hls" / "master.m3u8").stat().st_size
    return sizes


def hls_files(out: Path, plan: Plan) -> int:
    return sum(1 for r in plan.renditions for f in (out / "hls" / r.name).iterdir() if f.is_file())


# --- the Lambda model ---------------------------------------------------------------------------


def schedule(durations: list[float], slots: int) -> float:
    """When the last of `durations` ends, each starting as soon as one of `slots` is free (in order)."""
    free = [0.0] * max(1, min(slots, len(durations)))
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free) if durations else 0.0


@dataclass
class Fit:
    """CPU-seconds of one transcode task as a + b * (its seconds of source)."""

    a: float
    b: float

    def __call__(self, seconds: float) -> float:
        return self.a + self.b * seconds


def fit_task_cost(run: PipelineRun, short: Stage) -> Fit:
    segs = [s for s in run.stages if s.name.startswith("transcode segment")]
    seg_s = sum(s.duration_s for s in run.plan.segments) / len(segs)
    seg_cpu = sum(s.cpu_s for s in segs) / len(segs)
    short_s = max(1, round(run.plan.gop_s * run.plan.fps)) / run.plan.fps
    if seg_s - short_s < 1e-6:  # only short segments: no slope to fit, all of it counted per second
        return Fit(0.0, seg_cpu / seg_s)
    b = (seg_cpu - short.cpu_s) / (seg_s - short_s)
    return Fit(max(short.cpu_s - b * short_s, 0.0), b)


def lambda_model(run: PipelineRun, fit: Fit, sizes: dict[str, int], minutes: float, arm64: float) -> dict[str, Any]:
    """Modelled wall time and cost of a `minutes`-long upload like the clip, on Lambda (see the docstring)."""
    from offload.packs.video.infra import MEDIA_MEMORY_MB  # the light steps' function (imports the CDK)
    from offload.packs.video.steps import DOWNLOAD_MAX_BYTES

    options = VideoOptions()
    duration = minutes * 60.0
    scale = duration / run.plan.duration_s
    facts = run.facts.model_copy(update={"duration_s": duration, "bytes": int((run.facts.bytes or 0) * scale)})
    plan = make_plan(facts, options)
    vcpus = options.transcode_memory_mb / LAMBDA_MB_PER_VCPU
    here = os.cpu_count() or 1
    seg_stages = total(run.stages, "transcode segment")
    utilisation = seg_stages.cpu_s / seg_stages.wall_s  # threads busy, of `here` cores
    lambda_util = min(vcpus, utilisation * vcpus / here)

    def busy(cpu_s: float, util: float) -> float:
        return cpu_s * arm64 / max(util, 1e-6)

    audio = total(run.stages, "transcode audio")
    audio_util = min(vcpus, max(audio.cpu_s / audio.wall_s, 1.0)) if audio.wall_s > 0 else 1.0
    tasks = [COLD_START_S + busy(fit(s.duration_s), lambda_util) for s in plan.segments]
    if plan.audio:
        tasks.append(COLD_START_S + busy(audio.cpu_s * scale, audio_util))
    transcode_wall = schedule(tasks, options.map_concurrency)
    # Joins: fetch the parts and the audio, remux (one core), upload; HLS rungs also segment and upload.
    per_min = {k: v / (run.plan.duration_s / 60) for k, v in sizes.items()}
    joins: list[float] = []
    outputs = [("mp4", "video.mp4", "join mp4"), ("webm", "video.webm", "join webm")]
    outputs += [(f"hls {r.name}", f"hls {r.name}", f"join hls {r.name}") for r in plan.renditions]
    hls_segments = math.ceil(duration / plan.hls_time_s)
    for kind, size_key, stage in outputs:
        if size_key not in per_min:
            continue
        mb = per_min[size_key] * minutes / 1e6
        cpu = total(run.stages, stage).cpu_s * scale
        parts_in = mb / S3_MB_PER_S + (len(plan.segments) + 1) * S3_REQUEST_S  # the parts and the audio
        objects = hls_segments + 1 if kind.startswith("hls") else 1
        upload = mb / S3_MB_PER_S + objects * S3_REQUEST_S
        joins.append(COLD_START_S + parts_in + busy(cpu, 1.0) + upload)
    join_wall = schedule(joins, options.map_concurrency)
    # The package step: the poster decodes about a GOP at each of its 10 samples, whatever the length;
    # the sprite sheet at most a GOP per tile (it seeks), and never more than every frame.
    mp4_mb = per_min.get("video.mp4", 0) * minutes / 1e6
    tiles = math.ceil(duration / max(plan.sprite_interval_s, duration / SPRITE_MAX_TILES))
    sprite_scale = min(scale, tiles * plan.gop_s / run.plan.duration_s)
    package_cpu = (
        total(run.stages, "package master").cpu_s
        + total(run.stages, "package poster").cpu_s
        + total(run.stages, "package sprite").cpu_s * sprite_scale
    )
    package_wall = COLD_START_S + mp4_mb / S3_MB_PER_S + busy(package_cpu, 1.0) + 8 * S3_REQUEST_S
    probe_wall = COLD_START_S + total(run.stages, "probe").wall_s * arm64 + SOURCE_RANGE_GETS * S3_REQUEST_S
    plan_wall = 0.2
    complete_wall = 0.2
    tasks_n = len(tasks)
    outputs_n = len(joins)
    # offload/packs/video/infra.py: Probe, Kind, Plan, Transcode (Map), Join (Map), Package, Complete,
    # VideoCompleted, and one per Map item.
    transitions = 8 + tasks_n + outputs_n
    wall = (
        probe_wall + plan_wall + transcode_wall + join_wall + package_wall + complete_wall + transitions * TRANSITION_S
    )
    # Cost, billed per ms including init: the Transcode function (transcode_memory_mb) runs the Map
    # items, the Media function (MEDIA_MEMORY_MB) probe, plan, package and complete.
    gb = options.transcode_memory_mb / 1024
    media_gb = MEDIA_MEMORY_MB / 1024
    billed_gb_s = gb * (sum(tasks) + sum(joins)) + media_gb * (probe_wall + plan_wall + package_wall + complete_wall)
    renditions_n = len(plan.renditions) + (1 if plan.webm else 0)
    source_gets = 1 if (facts.bytes or 0) <= DOWNLOAD_MAX_BYTES else SOURCE_RANGE_GETS
    s3_puts = (
        len(plan.segments) * renditions_n  # parts
        + (2 if plan.audio else 0)  # audio to the work prefix
        + 2  # video.mp4, video.webm
        + len(plan.renditions) * (hls_segments + 1)  # HLS segments and playlists
        + 4  # the master playlist, poster, sprite, its WebVTT
        + (2 if plan.audio else 0)  # the audio outputs
        + 1  # ListObjectsV2 of the work prefix (billed as a LIST); deletes are free
    )
    s3_gets = (
        (1 + tasks_n) * source_gets  # probe + every transcode task read the source
        + outputs_n * len(plan.segments)  # each join fetches its parts
        + (outputs_n + 2 if plan.audio else 0)  # the audio per join, and for the package step
        + 1  # the package step fetches video.mp4
    )
    ddb_writes = (5 + len(plan.segments)) * 3  # record writes x ~3 WRU (items > 1 KB, the status index)
    lambda_requests = 4 + tasks_n + outputs_n  # probe, plan, tasks, joins, package, complete
    cost = {
        "lambda_gb_s": billed_gb_s * PRICES_USD["lambda_gb_second_arm64"],
        "lambda_requests": lambda_requests * PRICES_USD["lambda_request"],
        "step_functions": transitions * VIDEO_PRICES_USD["sfn_standard_transition"],
        "s3_requests": s3_puts * PRICES_USD["s3_put"] + s3_gets * PRICES_USD["s3_get"],
        "dynamodb": ddb_writes * PRICES_USD["dynamodb_write_unit"],
        "job": JOB_USD,
    }
    usd = sum(cost.values())
    # MediaConvert bills each output: the HLS rungs, the WebM and the MP4 (the top rung's size).
    video_outputs = [*plan.renditions, *([plan.webm] if plan.webm else []), plan.renditions[0]]
    output_heights = [min(r.width, r.height) for r in video_outputs]
    mediaconvert = {tier: sum(mediaconvert_rate(tier, h) for h in output_heights) for tier in ("basic", "pro")}
    return {
        "minutes": minutes,
        "segments": len(plan.segments),
        "segment_s": plan.segment_s,
        "transcode_memory_mb": options.transcode_memory_mb,
        "media_memory_mb": MEDIA_MEMORY_MB,
        "vcpus": round(vcpus, 2),
        "arm64_factor": arm64,
        "utilisation_here": round(utilisation, 2),
        "utilisation_lambda": round(lambda_util, 2),
        "map_concurrency": options.map_concurrency,
        "task_wall_s": {"max": max(tasks), "min": min(tasks)},
        "wall_s": {
            "probe": probe_wall,
            "plan": plan_wall,
            "transcode_map": transcode_wall,
            "join_map": join_wall,
            "package": package_wall,
            "complete": complete_wall,
            "transitions": transitions * TRANSITION_S,
            "total": wall,
        },
        "billed_gb_s": billed_gb_s,
        "transitions": transitions,
        "s3_puts": s3_puts,
        "s3_gets": s3_gets,
        "lambda_requests": lambda_requests,
        "cost_usd": cost,
        "usd": usd,
        "usd_per_source_minute": usd / minutes,
        "video_outputs": len(output_heights),
        "usd_per_output_minute": usd / minutes / len(output_heights),
        "mediaconvert_usd_per_source_minute": mediaconvert,
        "mediaconvert_usd_per_output_minute": {k: v / len(output_heights) for k, v in mediaconvert.items()},
    }


def mediaconvert_rate(tier: str, short_side: int) -> float:
    """MediaConvert's per-minute rate for one video output: SD below 720 lines, HD to 1080, UHD above."""
    size = "sd" if short_side < 720 else "hd" if short_side <= 1080 else "uhd"
    return VIDEO_PRICES_USD[f"mediaconvert_{tier}_{size}_min"]


# --- the run ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench(args: argparse.Namespace, work: Path, say: Say) -> dict[str, Any]:
    source = source_clip(Path(args.cache), args.duration, args.height, say)
    # Other processes stretch wall times (CPU-seconds much less): the 1-minute load average as each part starts.
    loads = {"start": os.getloadavg()[0]}
    options = VideoOptions()
    facts = probe(str(source), size=source.stat().st_size)
    video = facts.video
    assert video is not None, f"{source} has no video stream"
    own_plan = make_plan(facts, options)
    plan = plan_for(facts, options, args.segment_s)
    say(
        f"source {source.name}: {video.width}x{video.height} {video.fps:g} fps "
        f"{facts.duration_s:.1f} s, {source.stat().st_size / 1e6:.1f} MB; plan: {len(plan.segments)} segments of "
        f"{plan.segment_s:g} s (the plan's own: {own_plan.segment_s:g} s), "
        f"renditions {', '.join(f'{r.name} {r.width}x{r.height}' for r in plan.renditions)}"
        + (f", webm {plan.webm.width}x{plan.webm.height}" if plan.webm else "")
    )
    # Ours and the reference, `--repeat` times, the order alternating (machine load drifts); the
    # first pair's outputs are the ones measured for quality and sizes.
    pairs: list[tuple[float, float]] = []
    run: PipelineRun | None = None
    ref: Stage | None = None
    for i in range(args.repeat):
        suffix = "" if i == 0 else f"-{i + 1}"
        ours_i: PipelineRun | None = None
        ref_i: Stage | None = None
        for side in ("ours", "reference") if i % 2 == 0 else ("reference", "ours"):
            loads[f"{side} {i + 1}"] = os.getloadavg()[0]
            if side == "ours":
                say(f"ours: the media functions, segment by segment (run {i + 1} of {args.repeat}) ...")
                ours_i = run_pipeline(source, options, args.segment_s, work / f"ours{suffix}", say)
                took = total(ours_i.stages)
            else:
                say(f"reference: one ffmpeg command (run {i + 1} of {args.repeat}) ...")
                made = run or ours_i  # the first run is ours first, so its sprite grid is known
                assert made is not None
                ref_i = run_reference(source, made.plan, made.sprite, work / f"reference{suffix}")
                took = ref_i
            say(f"  {took.cpu_s:.1f} CPU-s, {took.wall_s:.1f} s wall")
        assert ours_i is not None and ref_i is not None
        pairs.append((total(ours_i.stages).cpu_s, ref_i.cpu_s))
        if i == 0:
            run, ref = ours_i, ref_i
        else:
            for name in (f"ours{suffix}", f"ours{suffix}-work", f"reference{suffix}"):
                shutil.rmtree(work / name, ignore_errors=True)
    assert run is not None and ref is not None
    ours = total(run.stages)
    ours_cpu = statistics.median(o for o, _ in pairs)
    ref_cpu = statistics.median(r for _, r in pairs)
    short = short_task_cpu(source, run.plan, work / "short")
    fit = fit_task_cost(run, short)
    mismatches = settings_match(run, work / "reference")
    # Segment-parallel transcode.
    transcode = total(run.stages, "transcode")
    walls: dict[int, float] = {}
    for w in args.workers:
        if w == 1:
            walls[1] = transcode.wall_s
            continue
        say(f"transcode tasks on {w} workers ...")
        loads[f"{w} workers"] = os.getloadavg()[0]
        walls[w] = parallel_wall(source, run.plan, w, work / f"pool{w}")
    # Quality.
    say("quality: VMAF and PSNR ...")
    rung = quality_rung(run.plan)
    width, height = video.display_width, video.display_height
    q_ours = vmaf(str(run.joined[rung.name]), source, width, height, args.vmaf_subsample, work / "vmaf-ours.json")
    q_ref = vmaf(
        str(work / "reference" / "hls" / rung.name / "index.m3u8"),
        source, width, height, args.vmaf_subsample, work / "vmaf-ref.json",
    )  # fmt: skip
    q_native = vmaf(
        str(run.joined[rung.name]), source, rung.width, rung.height, args.vmaf_subsample, work / "vmaf-native.json"
    )
    q_ceiling = vmaf(
        str(source), source, width, height, args.vmaf_subsample, work / "vmaf-ceiling.json",
        through=(rung.width, rung.height),
    )  # fmt: skip
    psnrs: dict[str, dict[str, float]] = {}
    for side, out, hls in (("ours", run.out, None), ("reference", work / "reference", work / "reference" / "hls")):
        found = {"video.mp4": psnr(out / "video.mp4", source, width, height)}
        if run.plan.webm is not None:
            found["video.webm"] = psnr(out / "video.webm", source, width, height)
        for r in run.plan.renditions:
            rung_file = run.joined[r.name] if hls is None else hls / r.name / "index.m3u8"
            found[f"hls {r.name}"] = psnr(rung_file, source, width, height)
        psnrs[side] = found
    loads["end"] = os.getloadavg()[0]
    sizes = output_sizes(run.out, run.plan)
    ref_sizes = output_sizes(work / "reference", run.plan)
    minutes = facts.duration_s / 60
    model = lambda_model(run, fit, sizes, args.model_minutes, args.arm64_factor)
    model["arm64_sensitivity"] = {
        f"{factor:g}": {
            "wall_s": m["wall_s"]["total"],
            "usd_per_output_minute": m["usd_per_output_minute"],
        }
        for factor in (1.0, 1.5, 2.0)
        for m in (lambda_model(run, fit, sizes, args.model_minutes, factor),)
    }
    overhead = statistics.median(o / r for o, r in pairs) - 1
    production = math.ceil(run.plan.duration_s / own_plan.segment_s)
    at_own = (ours_cpu - fit.a * (len(run.plan.segments) - production)) / ref_cpu - 1
    return {
        "source": {
            "file": str(source),
            "width": video.width,
            "height": video.height,
            "fps": video.fps,
            "duration_s": facts.duration_s,
            "bytes": facts.bytes,
            "audio": facts.audio is not None,
        },
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "load": loads},
        "plan": {
            "segment_s": run.plan.segment_s,
            "segments": len(run.plan.segments),
            "own_segment_s": own_plan.segment_s,
            "renditions": [r.model_dump() for r in run.plan.renditions],
            "webm": run.plan.webm.model_dump() if run.plan.webm else None,
        },
        "cpu": {
            "reference_s": ref_cpu,
            "reference_wall_s": ref.wall_s,
            "ours_s": ours_cpu,
            "pairs": [{"ours_s": o, "reference_s": r} for o, r in pairs],
            "ours_wall_s": ours.wall_s,
            "overhead": overhead,
            "overhead_at_own_segments": at_own,
            "own_segments": production,
            "stages": [
                {"name": s.name, "wall_s": s.wall_s, "cpu_s": s.cpu_s, "self_cpu_s": s.self_cpu_s} for s in run.stages
            ],
            "task_fixed_cpu_s": fit.a,
            "task_cpu_per_source_s": fit.b,
            "short_task_cpu_s": short.cpu_s,
            "x264_settings_differ": mismatches,
        },
        "parallel": {
            "tasks": len(run.plan.segments) + (1 if run.plan.audio else 0),
            "wall_s": {str(k): v for k, v in walls.items()},
            "speedup": {str(k): walls[min(walls)] / v for k, v in walls.items()},
        },
        "quality": {
            "rung": rung.name,
            "vmaf_subsample": args.vmaf_subsample,
            "ours": q_ours,
            "reference": q_ref,
            "ours_at_rung_size": q_native,
            "ceiling": q_ceiling,
            "psnr_y": psnrs["ours"],
            "reference_psnr_y": psnrs["reference"],
        },
        "bytes": sizes,
        "bytes_per_minute": {k: v / minutes for k, v in sizes.items()},
        "reference_bytes": ref_sizes,
        "hls_files": hls_files(run.out, run.plan),
        "lambda": model,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def targets(r: dict[str, Any]) -> list[tuple[str, bool]]:
    """The issue's targets, each as (what was measured against what, met)."""
    cpu, plan, q, lam = r["cpu"], r["plan"], r["quality"], r["lambda"]
    return [
        (
            f"CPU overhead {cpu['overhead']:+.1%} at {plan['segment_s']:g} s segments <= {TARGET_OVERHEAD:.0%} "
            f"(at the plan's own {plan['own_segment_s']:g} s: {cpu['overhead_at_own_segments']:+.1%}, modelled)",
            cpu["overhead"] <= TARGET_OVERHEAD,
        ),
        (f"VMAF {q['rung']} {q['ours']['vmaf']:.2f} >= {TARGET_VMAF_720:g}", q["ours"]["vmaf"] >= TARGET_VMAF_720),
        (
            f"Lambda ${lam['usd_per_output_minute']:.5f} per output minute < MediaConvert Basic "
            f"${lam['mediaconvert_usd_per_output_minute']['basic']:.4f}",
            lam["usd_per_output_minute"] < lam["mediaconvert_usd_per_output_minute"]["basic"],
        ),
    ]


def report(r: dict[str, Any], quick: bool) -> int:
    """Print the tables; the number of missed targets (0 with --quick)."""
    src, cpu, plan, q, lam = r["source"], r["cpu"], r["plan"], r["quality"], r["lambda"]
    print(
        f"video bench: {src['width']}x{src['height']} {src['fps']:g} fps, {src['duration_s']:.1f} s "
        f"({src['bytes'] / 1e6:.1f} MB, audio {'yes' if src['audio'] else 'no'}) on {r['machine']['cpus']} x "
        f"{r['machine']['cpu']}; {plan['segments']} segments of {plan['segment_s']:g} s "
        f"(the plan's own for this clip: {plan['own_segment_s']:g} s)"
    )
    loads = ", ".join(f"{k} {v:.1f}" for k, v in r["machine"]["load"].items())
    print(f"1-minute load average as each part started (other work on the machine): {loads}")
    print("\n== CPU-seconds: ours (media functions, serial) vs one ffmpeg command")
    print(f"   {'':34}{'wall s':>9}{'CPU s':>9}{'of which Python':>17}")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for s in cpu["stages"]:
        key = "transcode segments" if s["name"].startswith("transcode segment") else s["name"]
        grouped.setdefault(key, []).append(s)
    for key, items in grouped.items():
        label = f"{key} (x{len(items)})" if len(items) > 1 else key
        wall, c, py = (sum(i[k] for i in items) for k in ("wall_s", "cpu_s", "self_cpu_s"))
        print(f"   {label:34}{wall:>9.2f}{c:>9.2f}{py:>17.2f}")
    print(f"   {'ours, total':34}{cpu['ours_wall_s']:>9.2f}{cpu['pairs'][0]['ours_s']:>9.2f}")
    print(f"   {'reference command':34}{cpu['reference_wall_s']:>9.2f}{cpu['pairs'][0]['reference_s']:>9.2f}")
    if len(cpu["pairs"]) > 1:
        runs = ", ".join(f"{p['ours_s']:.1f}/{p['reference_s']:.1f}" for p in cpu["pairs"])
        print(
            f"   {len(cpu['pairs'])} runs, ours/reference CPU-s: {runs}; medians {cpu['ours_s']:.1f}/"
            f"{cpu['reference_s']:.1f}, median ratio {cpu['overhead'] + 1:.3f}"
        )
    print(
        f"   per transcode task: {cpu['task_fixed_cpu_s']:.2f} CPU-s fixed + {cpu['task_cpu_per_source_s']:.3f} "
        f"CPU-s per source second (a {cpu['short_task_cpu_s']:.2f} CPU-s single-GOP task against the segments)"
    )
    if cpu["x264_settings_differ"]:
        print("   x264 options differ from the reference's: " + "; ".join(cpu["x264_settings_differ"]))
    else:
        print("   x264 option strings: identical to the reference's for every rung")
    print("\n== segment-parallel transcode (every segment + the audio task) on this machine")
    par = r["parallel"]
    for w, wall in par["wall_s"].items():
        note = " (the serial run)" if w == "1" else ""
        print(f"   {w} worker(s): {wall:7.2f} s wall, speed-up {par['speedup'][w]:.2f}x{note}")
    print(
        f"\n== modelled on Lambda: a {lam['minutes']:g}-minute upload like this clip (an estimate)\n"
        f"   plan: {lam['segments']} segments of {lam['segment_s']:g} s + audio; transcode function "
        f"{lam['transcode_memory_mb']} MB = {lam['vcpus']:.2f} vCPUs; arm64 {lam['arm64_factor']:g}x slower than "
        f"a core here; threads busy {lam['utilisation_here']:.2f} of {r['machine']['cpus']} cores here -> "
        f"{lam['utilisation_lambda']:.2f} vCPUs; Map concurrency {lam['map_concurrency']}"
    )
    for k, v in lam["wall_s"].items():
        print(f"   {k:24}{v:>9.1f} s")
    print(
        f"   (transcode tasks {lam['task_wall_s']['min']:.0f}-{lam['task_wall_s']['max']:.0f} s each; "
        f"cold start {COLD_START_S:g} s per task, S3 {S3_MB_PER_S:g} MB/s + {S3_REQUEST_S * 1000:.0f} ms per object)"
    )
    print(f"\n== quality per bit ({q['rung']} rendition; VMAF vmaf_v0.6.1, every {q['vmaf_subsample']} frame(s))")
    print(
        f"   ours, upscaled to the source's size:   VMAF {q['ours']['vmaf']:.2f} (min {q['ours']['vmaf_min']:.1f}), "
        f"PSNR-Y {q['ours']['psnr_y']:.2f} dB"
    )
    print(
        f"   reference command, same:               VMAF {q['reference']['vmaf']:.2f} "
        f"(min {q['reference']['vmaf_min']:.1f}), PSNR-Y {q['reference']['psnr_y']:.2f} dB"
    )
    print(
        f"   ours vs the source scaled to {q['rung']}:   VMAF {q['ours_at_rung_size']['vmaf']:.2f}, "
        f"PSNR-Y {q['ours_at_rung_size']['psnr_y']:.2f} dB (encoding loss alone)"
    )
    print(
        f"   the source through {q['rung']}, not encoded:  VMAF {q['ceiling']['vmaf']:.2f}, "
        f"PSNR-Y {q['ceiling']['psnr_y']:.2f} dB (the ceiling of any {q['rung']} rendition of this clip)"
    )
    print(
        f"   {'output':16}{'bytes':>12}{'MB per min':>12}{'kbit/s':>9}{'PSNR-Y':>9}"
        f"{'bytes vs ref':>14}{'ref PSNR-Y':>12}"
    )
    for name, size in r["bytes"].items():
        per_min = r["bytes_per_minute"][name]
        p, rp = q["psnr_y"].get(name), q["reference_psnr_y"].get(name)
        ref = r["reference_bytes"].get(name)
        ratio = f"{size / ref:.3f}x" if ref else "-"
        print(
            f"   {name:16}{size:>12,}{per_min / 1e6:>12.2f}{per_min * 8 / 60 / 1000:>9.0f}"
            f"{(f'{p:.2f}' if p is not None else '-'):>9}{ratio:>14}{(f'{rp:.2f}' if rp is not None else '-'):>12}"
        )
    c = lam["cost_usd"]
    mc = lam["mediaconvert_usd_per_source_minute"]
    print(f"\n== cost of the {lam['minutes']:g}-minute model on Lambda (arm64, us-east-1; check prices before quoting)")
    for k, v in c.items():
        print(f"   {k:20}${v:.5f}")
    print(
        f"   {'total':20}${lam['usd']:.5f} = ${lam['usd_per_source_minute']:.5f} per source minute, "
        f"${lam['usd_per_output_minute']:.5f} per output minute ({lam['video_outputs']} video outputs)"
    )
    print(
        f"   MediaConvert on demand, the same {lam['video_outputs']} video outputs: Basic tier "
        f"${mc['basic']:.4f} per source minute (${lam['mediaconvert_usd_per_output_minute']['basic']:.4f} per "
        f"output minute), Professional ${mc['pro']:.4f} (${lam['mediaconvert_usd_per_output_minute']['pro']:.4f}); "
        f"ours is {mc['basic'] / lam['usd_per_source_minute']:.1f}x cheaper than Basic"
    )
    sens = "; ".join(
        f"{k}x: {v['wall_s']:.0f} s, ${v['usd_per_output_minute']:.5f} per output minute"
        for k, v in lam["arm64_sensitivity"].items()
    )
    print(f"   arm64 time per CPU-second here, {sens}")
    checks = targets(r)
    print()
    for text, ok in checks:
        print(f"   {verdict(ok)}  {text}")
    failures = sum(not ok for _, ok in checks)
    if quick:
        print("\n(--quick: a smoke run; the targets are for the full 60 s 1080p run)")
        return 0
    print(f"\n{'all targets met' if failures == 0 else f'{failures} target(s) missed'}")
    return failures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--duration", type=float, help="clip seconds (default 60; --quick 10)")
    p.add_argument("--height", type=int, help="clip height, 16:9 (default 1080; --quick 720)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 10 s 720p, 1 and 2 workers")
    p.add_argument("--json", action="store_true", help="print the figures as JSON (progress goes to stderr)")
    p.add_argument("--segment-s", type=float, help="transcode segment seconds (default 12; --quick 2)")
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], help="pool sizes (default 1,2,4)")
    p.add_argument("--model-minutes", type=float, default=10.0, help="the modelled upload's minutes (default 10)")
    p.add_argument("--arm64-factor", type=float, help="Lambda arm64 CPU time per CPU-second here (default: the plan's)")
    p.add_argument("--repeat", type=int, default=1, help="run ours and the reference N times (the median ratio)")
    p.add_argument("--vmaf-subsample", type=int, default=1, help="score every Nth frame (default 1: all)")
    p.add_argument("--cache", default=str(CACHE), help="where the generated clips are kept (default bench/.cache)")
    p.add_argument("--save", help="also write the figures as JSON to this file")
    p.add_argument("--keep", help="keep the outputs in this directory (default: a temporary one, deleted)")
    args = p.parse_args(argv)
    args.duration = args.duration or (10.0 if args.quick else 60.0)
    args.height = args.height or (720 if args.quick else 1080)
    args.segment_s = args.segment_s or (2.0 if args.quick else 12.0)
    args.workers = args.workers or ([1, 2] if args.quick else [1, 2, 4])
    args.arm64_factor = args.arm64_factor or ARM64_FACTOR
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="offload-video-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = bench(args, work, say)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["targets"] = [{"target": text, "met": ok} for text, ok in targets(result)]
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
        return 1 if not args.quick and not all(t["met"] for t in result["targets"]) else 0
    return 1 if report(result, args.quick) else 0


if __name__ == "__main__":
    sys.exit(main())
