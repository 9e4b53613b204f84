"""HLS: a media playlist per rendition (stream copy of the joined rendition) and the master playlist.

Segments are `hls_time_s` long (4 s by default; keyframes every 2 s), so every EXTINF rounds to
at most TARGETDURATION and the renditions' segment boundaries fall at the same instants.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from offload.media.video.plan import Plan, Rendition


class Variant(BaseModel):
    """One rendition's media playlist, as the master playlist lists it."""

    name: str
    uri: str  # the media playlist, relative to the master playlist: "<name>/index.m3u8"
    width: int
    height: int
    bandwidth: int  # peak segment bitrate, bits/s
    average_bandwidth: int
    codecs: str  # e.g. "avc1.640028,mp4a.40.2"
    frame_rate: float


def package_rendition(joined: Path, rendition: Rendition, plan: Plan, out_dir: Path) -> Variant:
    """Segment a joined rendition (with its audio) into out_dir/index.m3u8 + out_dir/seg_NNNNN.ts."""
    raise NotImplementedError("package_rendition: built by the media helper")


def master_playlist(variants: list[Variant]) -> str:
    """The master playlist text: one EXT-X-STREAM-INF per variant, tallest first."""
    raise NotImplementedError("master_playlist: built by the media helper")
