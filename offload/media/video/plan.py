"""What the pipeline makes of a source: the plan every step follows.

`make_plan(facts, options)` decides, once, in the `plan` step:
- the renditions: the top one at the source's displayed size capped at 1080p (by the shorter
  side, so portrait works the same), then the standard rungs 720p/480p/360p below it, never
  upscaled; even dimensions; H.264 High with capped VBR (maxrate/bufsize) per rung; the top rung is
  also the MP4; WebM (VP9) at the top size;
- one frame rate for every output (the source's, made constant, at most 60);
- keyframes every `gop_s` seconds at the same instants in every rendition, HLS segments of
  `hls_time_s`, and transcode segments of `segment_s` (a multiple of both), sized so that each Map
  task ends well inside its function's timeout;
- the filters: deinterlace, HDR -> SDR tone mapping, 8-bit yuv420p, rotation (ffmpeg applies the
  display matrix when it decodes), scaling, the watermark.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from offload.media.video.facts import Limits, MediaFacts

Position = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]


class WatermarkSpec(BaseModel):
    """A creator watermark: text (rendered with Pillow) or an image (a logo's key in the media bucket)."""

    text: str | None = None
    image_key: str | None = None
    position: Position = "bottom-right"
    opacity: float = Field(default=0.7, ge=0.0, le=1.0)
    margin: float = Field(default=0.03, ge=0.0, le=0.4, description="gap to the edges, as a fraction of the width")
    scale: float = Field(default=0.18, gt=0.0, le=1.0, description="watermark width, as a fraction of the width")

    @model_validator(mode="after")
    def _one_mark(self) -> WatermarkSpec:
        """Exactly one of a text and a logo: refused when the catalog or the job is read, not mid-run."""
        text = bool(self.text and self.text.strip())
        if text == bool(self.image_key):
            raise ValueError(
                "a watermark needs exactly one of text (a caption) and image_key (a logo's key in the media bucket)"
            )
        return self


class VideoOptions(BaseModel):
    """The video pack's options (the catalog's `video_pack(...)`; a job's own options override some)."""

    limits: Limits = Field(default_factory=Limits)
    webm: bool = True
    loudness_normalise: bool = Field(default=False, description="EBU R128 (loudnorm, -23 LUFS) on every audio output")
    watermark: WatermarkSpec | None = None
    max_rung: int = Field(default=1080, description="the tallest rendition (by the shorter side)")
    gop_s: float = 2.0
    hls_time_s: float = 4.0
    sprite_interval_s: float = Field(default=2.0, gt=0)
    map_concurrency: int = Field(default=10, ge=1, le=40)
    segment_budget_s: float = Field(
        default=300.0, gt=0, description="target wall time of one transcode task (the function timeout is 900 s)"
    )
    transcode_memory_mb: int = Field(
        default=3538, ge=1769, le=10240, description="the transcode function's memory (3,538 MB = 2 vCPUs)"
    )

    @model_validator(mode="after")
    def _segments_align(self) -> VideoOptions:
        # HLS cuts only at keyframes: a segment length off the keyframe grid would stretch every segment.
        if self.gop_s <= 0 or self.hls_time_s <= 0 or round(self.hls_time_s * 1000) % round(self.gop_s * 1000):
            raise ValueError(
                f"hls_time_s ({self.hls_time_s:g}) must be a positive multiple of gop_s ({self.gop_s:g}), "
                "e.g. gop_s=2, hls_time_s=4 or 6"
            )
        return self


class Rendition(BaseModel):
    """One H.264 (or VP9) output size."""

    name: str  # "1080p", "720p", ... (by the shorter side), "webm"
    codec: Literal["h264", "vp9"] = "h264"
    width: int
    height: int
    video_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int


class Segment(BaseModel):
    """One Map task: [start_s, start_s + duration_s) of the source, `frames` output frames."""

    index: int
    start_s: float
    duration_s: float
    frames: int


class Plan(BaseModel):
    """Everything the transcode, join and package steps need, computed once."""

    duration_s: float
    fps: float
    gop_s: float
    hls_time_s: float
    segment_s: float
    renditions: list[Rendition]  # H.264, tallest first; renditions[0] is also the MP4
    webm: Rendition | None = None
    segments: list[Segment]
    audio: bool
    audio_kbps: int = 128
    deinterlace: bool = False
    tonemap: bool = False
    loudness_normalise: bool = False
    watermark: WatermarkSpec | None = None
    sprite_interval_s: float = 2.0
    scratch_mb: int = 0  # /tmp the join of the largest output needs


# The ladder, by the shorter displayed side, tallest first.
RUNGS = (1080, 720, 480, 360)
# A standard rung within this fraction of the top rung adds nothing (361p source: no 360p too).
RUNG_DEDUPE = 0.10
# Nominal H.264 rates at <= 30 fps (kbps), about Apple's HLS authoring ladder: the rate control is
# capped CRF (encode.X264_CRF) with maxrate = MAXRATE_FACTOR x nominal and bufsize = BUFSIZE_FACTOR x
# maxrate, so easy content spends less. Other sizes interpolate by pixel count; > 30 fps gets HIGH_FPS_FACTOR.
NOMINAL_KBPS = {1080: 5000, 720: 2800, 480: 1400, 360: 800}
MIN_KBPS = 200
MAXRATE_FACTOR = 1.5
BUFSIZE_FACTOR = 2.0
HIGH_FPS_FACTOR = 1.5
# VP9 needs about 2/3 of H.264's rate for the same quality.
VP9_FACTOR = 0.65
MAX_FPS = 60.0
# Rates a source within 2% of is snapped to (a phone's 29.6 fps average is 30).
STANDARD_FPS = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0)
FPS_SNAP = 0.02

# The CPU cost model of one transcode task, in CPU-nanoseconds per pixel, measured here (x86_64,
# ffmpeg 9.0.2, testsrc2 at 720p and 1080p; user+sys time): libx264 -preset medium capped CRF 21
# 31 ns per output pixel on one 1080p rung, 36 over the whole ladder (small rungs cost more per pixel;
# veryfast was 13.3-14.6); libvpx-vp9 realtime -cpu-used 6 9.8-14.7 ns; decoding 1.6 ns per
# source pixel for H.264, 3.9 for 10-bit HEVC (4 is taken for any source); bwdif 0.7 ns; the zscale +
# tonemap chain 13.5 ns; scaling and the pixel-format conversion about 3 ns per output pixel (the
# whole, checked on a 4 s 1080p30 segment with the full ladder and VP9: 22.3 CPU-s measured, 22.3
# modelled for x86_64). Lambda's arm64 cores are taken as ARM64_FACTOR slower (bench/video.py checks
# the whole against a measured run); ffmpeg's threads use the vCPUs at PARALLEL_EFFICIENCY.
X264_NS_PER_PX = 36.0
VP9_NS_PER_PX = 13.0
DECODE_NS_PER_PX = 4.0
DEINTERLACE_NS_PER_PX = 1.0
TONEMAP_NS_PER_PX = 15.0
SCALE_NS_PER_PX = 3.0
ARM64_FACTOR = 1.5
PARALLEL_EFFICIENCY = 0.8
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
# A task also has fixed costs (start, reading the source's index over HTTP, uploading parts).
TASK_OVERHEAD_S = 10.0
# A task is planned to take at most this share of its function's timeout, whatever the budget says.
TIMEOUT_SHARE = 0.5

# /tmp of a join or package task: the joined file plus its HLS copy at the nominal rate (capped CRF
# averages below it on most content; maxrate bounds the peaks), plus this margin.
SCRATCH_MARGIN_MB = 256
LAMBDA_MIN_SCRATCH_MB = 512


def scratch_mb_for(options: VideoOptions) -> int:
    """The /tmp a join or package task needs for the longest source the limits accept, with the
    tallest ladder: the construct sizes the functions' ephemeral storage from it at synth."""
    top = min(options.max_rung, RUNGS[0])
    width = _even(top * 16 / 9)
    kbps = _nominal_kbps(width, _even(top), 30.0)
    return _scratch_mb(options.limits.max_duration_s, kbps, audio_kbps=128)


def make_plan(facts: MediaFacts, options: VideoOptions, *, function_timeout_s: float = 900.0) -> Plan:
    """The plan for a probed video source (facts.video is not None)."""
    video = facts.video
    if video is None:
        raise ValueError("make_plan needs a video source: audio-only sources take the audio branch")
    fps = output_fps(video.fps)
    renditions = ladder(video.display_width, video.display_height, fps, options.max_rung)
    top = renditions[0]
    webm = (
        Rendition(
            name="webm",
            codec="vp9",
            width=top.width,
            height=top.height,
            video_kbps=round(top.video_kbps * VP9_FACTOR),
            maxrate_kbps=round(top.maxrate_kbps * VP9_FACTOR),
            bufsize_kbps=round(top.bufsize_kbps * VP9_FACTOR),
        )
        if options.webm
        else None
    )
    cost = cpu_s_per_source_s(
        source_pixels=video.width * video.height,
        fps=fps,
        renditions=[*renditions, *([webm] if webm else [])],
        deinterlace=video.interlaced,
        tonemap=video.hdr,
    )
    segment_s = segment_length(
        cost,
        memory_mb=options.transcode_memory_mb,
        budget_s=min(options.segment_budget_s, function_timeout_s * TIMEOUT_SHARE),
        step_s=_lcm(options.gop_s, options.hls_time_s),
    )
    audio_kbps = 128
    return Plan(
        duration_s=facts.duration_s,
        fps=fps,
        gop_s=options.gop_s,
        hls_time_s=options.hls_time_s,
        segment_s=segment_s,
        renditions=renditions,
        webm=webm,
        segments=segments(facts.duration_s, fps, segment_s),
        audio=facts.audio is not None,
        audio_kbps=audio_kbps,
        deinterlace=video.interlaced,
        tonemap=video.hdr,
        loudness_normalise=options.loudness_normalise,
        watermark=options.watermark,
        sprite_interval_s=options.sprite_interval_s,
        scratch_mb=_scratch_mb(facts.duration_s, top.video_kbps, audio_kbps=audio_kbps if facts.audio else 0),
    )


def output_fps(source_fps: float) -> float:
    """The constant output rate: the source's average halved until <= MAX_FPS, snapped to a standard
    rate within FPS_SNAP, else a whole number (0.5 fps steps below 10)."""
    fps = source_fps if source_fps > 0 else 25.0
    while fps > MAX_FPS * (1 + FPS_SNAP):
        fps /= 2
    nearest = min(STANDARD_FPS, key=lambda standard: abs(fps - standard))
    if abs(fps - nearest) <= FPS_SNAP * nearest:
        return round(nearest, 6)
    return float(max(1, round(fps))) if fps >= 10 else max(0.5, round(fps * 2) / 2)


def ladder(display_width: int, display_height: int, fps: float, max_rung: int = 1080) -> list[Rendition]:
    """The H.264 renditions, tallest first: the top at the displayed size (its shorter side capped at
    `max_rung`), then each standard rung below it, never upscaled; even dimensions, the aspect kept."""
    short = min(display_width, display_height)
    top = min(short, max_rung)
    sizes = [top] + [r for r in RUNGS if r < top * (1 - RUNG_DEDUPE)]
    out = []
    for side in sizes:
        if side == short:
            width, height = _floor_even(display_width), _floor_even(display_height)
        else:
            scale = side / short
            width, height = _even(display_width * scale), _even(display_height * scale)
        kbps = _nominal_kbps(width, height, fps)
        maxrate = round(kbps * MAXRATE_FACTOR)
        out.append(
            Rendition(
                name=f"{min(width, height)}p",
                width=width,
                height=height,
                video_kbps=kbps,
                maxrate_kbps=maxrate,
                bufsize_kbps=round(maxrate * BUFSIZE_FACTOR),
            )
        )
    return out


def cpu_s_per_source_s(
    *, source_pixels: int, fps: float, renditions: list[Rendition], deinterlace: bool, tonemap: bool
) -> float:
    """CPU-seconds (on Lambda's arm64) one second of source costs to decode, filter and encode."""
    ns = source_pixels * (DECODE_NS_PER_PX + (DEINTERLACE_NS_PER_PX if deinterlace else 0.0))
    if tonemap:
        ns += source_pixels * TONEMAP_NS_PER_PX
    for r in renditions:
        ns += r.width * r.height * (SCALE_NS_PER_PX + (VP9_NS_PER_PX if r.codec == "vp9" else X264_NS_PER_PX))
    return ns * fps * ARM64_FACTOR / 1e9


def segment_length(cpu_per_s: float, *, memory_mb: int, budget_s: float, step_s: float) -> float:
    """The longest multiple of `step_s` (at least one) a task encodes in `budget_s` on `memory_mb` of Lambda."""
    vcpus = min(memory_mb / LAMBDA_MB_PER_VCPU, LAMBDA_MAX_VCPUS)
    speed = vcpus * PARALLEL_EFFICIENCY if vcpus > 1 else vcpus
    seconds = max(budget_s - TASK_OVERHEAD_S, 0.0) * speed / cpu_per_s if cpu_per_s > 0 else budget_s
    return max(1, math.floor(seconds / step_s)) * step_s


def segments(duration_s: float, fps: float, segment_s: float) -> list[Segment]:
    """[0, segment_s), [segment_s, 2 segment_s), ... to the end, with exact output frame counts:
    frames_i = round(end_i * fps) - round(start_i * fps), so the parts add up to the whole."""
    total = max(1, round(duration_s * fps))
    out: list[Segment] = []
    start = 0.0
    index = 0
    while True:
        end = start + segment_s
        # The last segment runs to the end; a remainder under a second joins the one before it.
        if end > duration_s - 1.0 + 1e-6:
            end = duration_s
        first = round(start * fps)
        last = total if end >= duration_s else round(end * fps)
        out.append(Segment(index=index, start_s=round(start, 6), duration_s=round(end - start, 6), frames=last - first))
        if end >= duration_s:
            return out
        start, index = end, index + 1


def _nominal_kbps(width: int, height: int, fps: float) -> int:
    pixels = width * height
    table = sorted((_even(r * 16 / 9) * r, k) for r, k in NOMINAL_KBPS.items())
    if pixels <= table[0][0]:
        kbps = table[0][1] * pixels / table[0][0]
    elif pixels >= table[-1][0]:
        kbps = table[-1][1] * pixels / table[-1][0]
    else:
        for (p0, k0), (p1, k1) in itertools.pairwise(table):
            if p0 <= pixels <= p1:
                kbps = k0 + (k1 - k0) * (pixels - p0) / (p1 - p0)
                break
    if fps > 30.5:
        kbps *= HIGH_FPS_FACTOR
    return max(MIN_KBPS, round(kbps / 50) * 50)


def _scratch_mb(duration_s: float, video_kbps: int, *, audio_kbps: int) -> int:
    joined_mb = duration_s * (video_kbps + audio_kbps) * 1000 / 8 / 1024**2
    # The joined MP4 and its HLS copy are on disk together; the parts stream in from S3.
    needed = math.ceil(2 * joined_mb + SCRATCH_MARGIN_MB)
    # Uncapped: over Lambda's 10,240 MB the construct refuses the limits at synth, and the plan step a source.
    return max(needed, LAMBDA_MIN_SCRATCH_MB)


def _lcm(a: float, b: float) -> float:
    ms_a, ms_b = round(a * 1000), round(b * 1000)
    return math.lcm(ms_a, ms_b) / 1000


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def _floor_even(x: int) -> int:
    return max(2, x - x % 2)
