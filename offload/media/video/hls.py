"""HLS: a media playlist per rendition (stream copy of the joined rendition) and the master playlist.

Segments are `hls_time_s` long (4 s by default; keyframes every 2 s), so every EXTINF rounds to
at most TARGETDURATION and the renditions' segment boundaries fall at the same instants.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel

from offload.media.video.ffmpeg import run_ffmpeg
from offload.media.video.plan import Plan, Rendition

PLAYLIST = "index.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"
# AAC-LC's RFC 6381 codec string; HE-AAC (v1) is 40.5, v2 40.29.
AAC_CODECS = {"LC": "mp4a.40.2", "HE-AAC": "mp4a.40.5", "HE-AACv2": "mp4a.40.29"}


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
    """Segment a joined rendition (with its audio) into out_dir/index.m3u8 + out_dir/seg_NNNNN.ts.

    Stream copy: the segments cut at the keyframes every `plan.gop_s`, each `plan.hls_time_s` long
    (the last one shorter). BANDWIDTH is the peak segment bitrate, AVERAGE-BANDWIDTH the whole's."""
    out_dir.mkdir(parents=True, exist_ok=True)
    playlist = out_dir / PLAYLIST
    args = [
        "-loglevel", "error", "-i", str(joined), "-map", "0", "-c", "copy",
        "-f", "hls", "-hls_time", f"{plan.hls_time_s:g}", "-hls_playlist_type", "vod",
        "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts",
        "-hls_segment_filename", str(out_dir / SEGMENT_PATTERN), str(playlist),
    ]  # fmt: skip
    run_ffmpeg(args, what=f"package {rendition.name} as HLS")
    peak, average = segment_bitrates(playlist)
    return Variant(
        name=rendition.name,
        uri=f"{rendition.name}/{PLAYLIST}",
        width=rendition.width,
        height=rendition.height,
        bandwidth=peak,
        average_bandwidth=average,
        codecs=codecs_of(joined),
        frame_rate=round(plan.fps, 3),
    )


def segment_bitrates(playlist: Path) -> tuple[int, int]:
    """(peak, average) bits/s of a media playlist's segments, from their sizes and EXTINF durations."""
    peak = 0.0
    bits = 0
    seconds = 0.0
    duration: float | None = None
    for line in playlist.read_text(encoding="utf-8").splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            size = (playlist.parent / line).stat().st_size * 8
            bits += size
            seconds += duration
            # A short last segment's rate says little about the stream's peak.
            if duration > 0:
                peak = max(peak, size / max(duration, 1.0))
            duration = None
    if seconds <= 0:
        raise ValueError(f"{playlist} lists no segments")
    return math.ceil(max(peak, bits / seconds)), math.ceil(bits / seconds)


def codecs_of(media: Path) -> str:
    """The RFC 6381 CODECS of a file's first video and audio streams: "avc1.PPCCLL[,mp4a.40.2]"."""
    import av

    codecs = []
    with av.open(str(media)) as container:
        if container.streams.video:
            ctx = container.streams.video[0].codec_context
            if ctx.name != "h264":
                raise ValueError(f"{media}: HLS renditions are H.264, this one is {ctx.name}")
            codecs.append(avc1_codec(bytes(ctx.extradata or b"")))
        if container.streams.audio:
            actx = container.streams.audio[0].codec_context
            if actx.name != "aac":
                raise ValueError(f"{media}: HLS audio is AAC, this one is {actx.name}")
            codecs.append(AAC_CODECS.get(actx.profile or "LC", "mp4a.40.2"))
    return ",".join(codecs)


def avc1_codec(extradata: bytes) -> str:
    """ "avc1.PPCCLL" from an H.264 stream's avcC (MP4) or Annex B SPS: profile_idc, constraint flags, level_idc."""
    if len(extradata) >= 4 and extradata[0] == 1:
        profile, constraints, level = extradata[1], extradata[2], extradata[3]
    else:
        # Annex B: 00 00 (00) 01, then the SPS NAL (type 7) header byte, then profile, flags, level.
        start = extradata.find(b"\x00\x00\x01")
        while start >= 0 and start + 6 < len(extradata) and extradata[start + 3] & 0x1F != 7:
            start = extradata.find(b"\x00\x00\x01", start + 3)
        if start < 0 or start + 6 >= len(extradata):
            raise ValueError("no H.264 SPS in the stream's extradata")
        profile, constraints, level = extradata[start + 4], extradata[start + 5], extradata[start + 6]
    return f"avc1.{profile:02X}{constraints:02X}{level:02X}"


def master_playlist(variants: list[Variant]) -> str:
    """The master playlist text: one EXT-X-STREAM-INF per variant, tallest first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in sorted(variants, key=lambda v: (v.width * v.height, v.bandwidth), reverse=True):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'RESOLUTION={v.width}x{v.height},CODECS="{v.codecs}",FRAME-RATE={v.frame_rate:.3f}'
        )
        lines.append(v.uri)
    return "\n".join(lines) + "\n"
