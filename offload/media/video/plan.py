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

from typing import Literal

from pydantic import BaseModel, Field

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


def scratch_mb_for(options: VideoOptions) -> int:
    """The /tmp a join or package task needs for the longest source the limits accept, with the
    tallest ladder: the construct sizes the functions' ephemeral storage from it at synth."""
    raise NotImplementedError("scratch_mb_for: built by the media helper")


def make_plan(facts: MediaFacts, options: VideoOptions, *, function_timeout_s: float = 900.0) -> Plan:
    """The plan for a probed video source (facts.video is not None)."""
    raise NotImplementedError("make_plan: built by the media helper")
