"""Transcoding: one segment of every video output, and joining a rendition's segments.

A segment task decodes [start, start + duration) of the source once, applies the plan's filters
(deinterlace, tone map, 8-bit yuv420p, constant frame rate, watermark) and encodes every
rendition from that one decode: H.264 parts (`<name>.mp4`) and the VP9 part (`webm.webm`), video
only. Keyframes are forced at multiples of `plan.gop_s` from the start of the source, so the
parts of all renditions switch at the same instants and join by stream copy. Audio is encoded
once for the whole source (`offload.media.video.audio.encode_audio`), not per segment, so the
joins have no audio gaps.
"""

from __future__ import annotations

from pathlib import Path

from offload.media.video.plan import Plan, Segment


def encode_segment(
    source: str, plan: Plan, segment: Segment, out_dir: Path, *, watermark_png: Path | None = None
) -> dict[str, Path]:
    """Encode one segment; {rendition name: part} with "webm" for the VP9 part when the plan has one."""
    raise NotImplementedError("encode_segment: built by the media helper")


def join_rendition(parts: list[Path], out: Path, *, audio: Path | None = None) -> Path:
    """Concatenate a rendition's parts in order (stream copy) and mux `audio` (copy) into `out`.

    `.mp4` outputs get `+faststart` (the moov first, so playback starts before the download ends)."""
    raise NotImplementedError("join_rendition: built by the media helper")
