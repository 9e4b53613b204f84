"""Creator watermarks: a text rendered with Pillow (a static ffmpeg may lack drawtext) or a logo
image, overlaid by ffmpeg with the spec's position, opacity, margin and scale."""

from __future__ import annotations

from pathlib import Path

from offload.media.video.plan import WatermarkSpec


def watermark_png(spec: WatermarkSpec, out: Path, *, logo: bytes | None = None) -> Path:
    """The watermark as an RGBA PNG at full opacity: the text rendered, or the logo (`logo` bytes) decoded."""
    raise NotImplementedError("watermark_png: built by the media helper")


def overlay_filter(spec: WatermarkSpec, frame_width: int, frame_height: int, *, video: str, mark: str, out: str) -> str:
    """An ffmpeg filtergraph fragment: scale the PNG input `[mark]` to spec.scale of the frame width,
    apply spec.opacity, overlay on `[video]` at spec.position with spec.margin; the result is `[out]`."""
    raise NotImplementedError("overlay_filter: built by the media helper")
