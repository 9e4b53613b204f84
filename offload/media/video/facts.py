"""What an uploaded video or audio file is, and the limits offload accepts.

`probe(source)` (PyAV) is the one way offload reads stream facts: codecs, duration, coded and
displayed dimensions, rotation, frame rate (and whether it varies), bit depth, HDR transfer,
interlacing and the audio track. Every bad input leaves as MediaInputError with a stable code,
so the pipeline records `failed` with a readable reason and never retries it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, Field

from offload.errors import NonRetryableError
from offload.media.video.ffmpeg import HTTP_TIMEOUT_S, is_url, open_source

if TYPE_CHECKING:
    import av
    import av.audio.stream
    import av.container
    import av.stream
    import av.video.stream

InputErrorCode = Literal[
    "empty",
    "truncated",
    "not_media",
    "no_streams",
    "unsupported_codec",
    "too_long",
    "too_many_bytes",
    "too_many_pixels",
]

# Video codecs offload decodes (PyAV / ffmpeg names). Others are refused by name, with this list.
INPUT_VIDEO_CODECS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg", "prores", "dnxhd", "theora"}
)
INPUT_AUDIO_CODECS = frozenset(
    {"aac", "mp3", "opus", "vorbis", "flac", "alac", "ac3", "eac3", "mp2", "pcm_s16le", "pcm_s24le", "pcm_f32le"}
)


class MediaInputError(NonRetryableError):
    """The upload can't be used as video or audio: retrying can't help. `code` is stable."""

    def __init__(self, code: InputErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Limits(BaseModel):
    """What offload accepts; the defaults are documented in docs/video.md."""

    max_duration_s: float = Field(default=2 * 3600, gt=0, description="longest source accepted (2 h)")
    max_bytes: int = Field(default=10 * 1024**3, gt=0, description="largest upload accepted (10 GiB)")
    max_width: int = Field(default=4096, gt=0, description="widest coded frame accepted (4K DCI)")
    max_height: int = Field(default=4096, gt=0, description="tallest coded frame accepted (portrait 4K)")
    max_pixels: int = Field(default=4096 * 2160, gt=0, description="most pixels per frame accepted")


class VideoStreamFacts(BaseModel):
    """The first video stream. `width`/`height` are coded; `display_*` are as shown (rotation and a
    non-square sample aspect ratio applied: a 720x480 DV frame with SAR 32:27 shows as 853x480)."""

    codec: str
    profile: str | None = None
    width: int
    height: int
    rotation: Literal[0, 90, 180, 270] = 0  # clockwise degrees a player turns the coded frame
    display_width: int
    display_height: int
    fps: float  # average frame rate
    variable_fps: bool = False
    pix_fmt: str | None = None
    bit_depth: int = 8
    color_transfer: str | None = None  # e.g. "smpte2084" (PQ) or "arib-std-b67" (HLG) for HDR
    hdr: bool = False
    interlaced: bool = False
    frames: int | None = None
    bitrate: int | None = None


class AudioStreamFacts(BaseModel):
    """The first audio stream."""

    codec: str
    channels: int
    sample_rate: int
    bitrate: int | None = None


class MediaFacts(BaseModel):
    """A probed source: container, duration, size and its first video and audio streams."""

    container: str
    duration_s: float
    bytes: int | None = None
    video: VideoStreamFacts | None = None
    audio: AudioStreamFacts | None = None

    @property
    def kind(self) -> Literal["video", "audio"]:
        """What the pipeline makes of it: audio-only sources get the audio outputs."""
        return "video" if self.video is not None else "audio"


# Enough packets to see a variable frame rate, and decoded frames to see rotation and interlacing.
PTS_SAMPLE_PACKETS = 60
DECODE_SAMPLE_FRAMES = 4
# Consecutive frame intervals differing by more than this fraction of the median are variable.
VFR_TOLERANCE = 0.25

# ffmpeg's AVColorTransferCharacteristic values, by the names ffprobe prints.
COLOR_TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
# ffmpeg's AVFieldOrder: 0 unknown, 1 progressive, 2..5 the interlaced orders (tt, bb, tb, bt).
INTERLACED_FIELD_ORDERS = frozenset({2, 3, 4, 5})
# A truncated MP4/MOV: its header says ISO BMFF, but the moov (the index) never arrived.
ISO_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")

RAISE_LIMIT = "raise it in the catalog: video_pack(limits=Limits({field}=...))"


def probe(source: str, *, size: int | None = None, limits: Limits | None = None) -> MediaFacts:
    """Facts of `source` (a path or an http(s) URL, such as a presigned S3 GET), checked against `limits`.

    `size` is the source's byte count when known (an S3 object's ContentLength); for a path it is
    read from the file. Raises MediaInputError for empty, truncated, non-media, stream-less,
    unsupported-codec and over-limit sources, each with a message naming what is wrong and the
    limit or list it broke."""
    limits = limits or Limits()
    if size is None and not is_url(source):
        size = os.path.getsize(source)
    if size == 0:
        raise MediaInputError("empty", "the upload is empty (0 bytes): upload the file again")
    if size is not None and size > limits.max_bytes:
        raise MediaInputError(
            "too_many_bytes",
            f"the upload is {_gib(size)} GiB, over the limit of {_gib(limits.max_bytes)} GiB "
            f"({limits.max_bytes} bytes): {RAISE_LIMIT.format(field='max_bytes')}",
        )
    container = _open(source)
    try:
        return _facts(container, source, size, limits)
    finally:
        container.close()


def output_info(path: Path, *, kind: str, key: str) -> dict[str, Any]:
    """What a record says of a produced output: {kind, codec, width, height, duration_s, bitrate, bytes, key}.

    The codec, size and duration are read back from the file (its first video stream, else its
    first audio stream); `bitrate` is bits/s over the whole file. An HLS playlist counts the bytes
    of everything it references (a master: every rendition); a still image has no duration or bitrate."""
    import av

    size = _package_bytes(path) if path.suffix == ".m3u8" else path.stat().st_size
    info: dict[str, Any] = {
        "kind": kind,
        "codec": None,
        "width": None,
        "height": None,
        "duration_s": None,
        "bitrate": None,
        "bytes": size,
        "key": key,
    }
    with av.open(str(path)) as container:
        video = _first_video(container)
        stream = video or (container.streams.audio[0] if container.streams.audio else None)
        if stream is not None:
            info["codec"] = stream.codec_context.name
        if video is not None:
            info["width"], info["height"] = video.codec_context.width, video.codec_context.height
        still = container.format.name.endswith("_pipe") or container.format.name == "image2"
        duration = None if still else _container_duration(container) or (stream and _stream_duration(stream))
        if duration:
            info["duration_s"] = round(duration, 3)
            info["bitrate"] = round(size * 8 / duration)
    return info


def _package_bytes(playlist: Path) -> int:
    """A playlist's bytes plus those of every file (and playlist) it references."""
    total = playlist.stat().st_size
    for line in playlist.read_text(encoding="utf-8").splitlines():
        uri = line.strip()
        if uri and not uri.startswith("#"):
            target = playlist.parent / uri
            total += _package_bytes(target) if target.suffix == ".m3u8" else target.stat().st_size
    return total


def _open(source: str) -> av.container.InputContainer:
    import av

    try:
        return open_source(source)
    except av.error.FFmpegError as exc:
        if _unreachable(exc):
            raise  # the source is unreachable (a missing path, an expired URL, S3 down): not the upload's fault
        # ffmpeg picks the MP4 demuxer for any "*.mp4" and says "moov atom not found" even of a text
        # file, so the file's own first box decides whether it is an MP4 cut short.
        if _looks_iso_bmff(source):
            raise MediaInputError(
                "truncated",
                "the MP4/MOV file is incomplete: its index (the moov atom) is missing, so the upload was "
                "cut short or the recorder never finished writing it; upload the complete file",
            ) from None
        raise MediaInputError(
            "not_media", f"the upload is not a video or audio file ffmpeg can read ({_reason(exc)})"
        ) from None
    except UnicodeDecodeError as exc:  # PyAV decodes the container's tags as UTF-8 while opening it
        raise MediaInputError(
            "not_media", f"the file's metadata is corrupt (not UTF-8 at byte {exc.start}): upload the original file"
        ) from None


def _unreachable(exc: Exception) -> bool:
    """Whether an ffmpeg error is about reaching the source (HTTP status, I/O), not its content."""
    import av

    return isinstance(exc, av.error.HTTPError | av.error.HTTPClientError | av.error.HTTPServerError | OSError)


def _facts(container: av.container.InputContainer, source: str, size: int | None, limits: Limits) -> MediaFacts:
    video_stream = _first_video(container)
    audio_stream = container.streams.audio[0] if container.streams.audio else None
    if video_stream is None and audio_stream is None:
        kinds = sorted({str(s.type) for s in container.streams}) or ["none"]
        raise MediaInputError(
            "no_streams",
            f"the {container.format.name} file has no video or audio stream (streams: {', '.join(kinds)})",
        )
    if video_stream is not None:
        _check_codec("video", video_stream.codec_context.name, INPUT_VIDEO_CODECS)
    if audio_stream is not None:
        _check_codec("audio", audio_stream.codec_context.name, INPUT_AUDIO_CODECS)
    video = _video_facts(container, video_stream, size, limits) if video_stream is not None else None
    audio = _audio_facts(audio_stream) if audio_stream is not None else None
    duration = _container_duration(container)
    if not duration:
        duration = max((_stream_duration(s) or 0.0) for s in (video_stream, audio_stream) if s is not None)
    if not duration:
        duration = _demuxed_duration(source, video_stream is not None)
    if duration > limits.max_duration_s:
        raise MediaInputError(
            "too_long",
            f"the source is {duration:.1f} s long, over the limit of {limits.max_duration_s:g} s: "
            + RAISE_LIMIT.format(field="max_duration_s"),
        )
    return MediaFacts(
        container=container.format.name,
        duration_s=round(duration, 6),
        bytes=size,
        video=video,
        audio=audio,
    )


def _first_video(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    import av

    # Cover art in an MP3 or M4A is a one-frame "attached picture" video stream, not video.
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _check_codec(kind: str, codec: str, accepted: frozenset[str]) -> None:
    if codec not in accepted:
        raise MediaInputError(
            "unsupported_codec",
            f"the {kind} codec {codec!r} is not supported; offload reads {kind} in: {', '.join(sorted(accepted))} "
            "(re-encode the file, e.g. to H.264/AAC MP4)",
        )


def _video_facts(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, size: int | None, limits: Limits
) -> VideoStreamFacts:
    import av

    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise MediaInputError(
            "too_many_pixels",
            f"the video is {width}x{height} ({width * height} pixels), over the limits of "
            f"{limits.max_width} wide, {limits.max_height} tall and {limits.max_pixels} pixels: "
            + RAISE_LIMIT.format(field="max_width/max_height/max_pixels"),
        )
    _check_complete(stream, size)
    pts, frames = _sample(container, stream)
    rotation = _rotation(frames)
    average = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(average) if average else 0.0
    intervals = _intervals(pts)
    if not fps and intervals and stream.time_base:
        fps = 1.0 / (statistics.median(intervals) * float(stream.time_base))
    if not fps:
        fps = 25.0  # nothing says: ffmpeg's own default rate
    pix_fmt = ctx.pix_fmt
    bit_depth = 8
    if pix_fmt:
        with contextlib.suppress(ValueError):
            bit_depth = max(c.bits for c in av.VideoFormat(pix_fmt).components)
    trc = ctx.color_trc if ctx.color_trc in COLOR_TRANSFERS else (frames[0].color_trc if frames else None)
    transfer = COLOR_TRANSFERS.get(int(trc)) if trc is not None else None
    interlaced = any(f.interlaced_frame for f in frames) or int(ctx.field_order or 0) in INTERLACED_FIELD_ORDERS
    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    shown_width = round(width * sar) if sar and sar > 0 else width
    rotated = rotation in (90, 270)
    return VideoStreamFacts(
        codec=ctx.name,
        profile=ctx.profile,
        width=width,
        height=height,
        rotation=rotation,
        display_width=height if rotated else shown_width,
        display_height=shown_width if rotated else height,
        fps=round(fps, 3),
        variable_fps=_variable(intervals, stream, fps, interlaced),
        pix_fmt=pix_fmt,
        bit_depth=bit_depth,
        color_transfer=transfer,
        hdr=transfer in HDR_TRANSFERS,
        interlaced=interlaced,
        frames=stream.frames or None,
        bitrate=ctx.bit_rate or _stream_bitrate(stream) or None,
    )


def _stream_bitrate(stream: av.stream.Stream) -> int | None:
    """A stream's bits/s from its own metadata (Matroska's BPS tag), when the codec doesn't say."""
    bps = stream.metadata.get("BPS") or stream.metadata.get("BPS-eng")
    return int(bps) if bps and bps.isdigit() else None


def _audio_facts(stream: av.audio.stream.AudioStream) -> AudioStreamFacts:
    ctx = stream.codec_context
    return AudioStreamFacts(
        codec=ctx.name,
        channels=ctx.channels or ctx.layout.nb_channels,
        sample_rate=ctx.sample_rate,
        bitrate=ctx.bit_rate or _stream_bitrate(stream) or None,
    )


def _check_complete(stream: av.video.stream.VideoStream, size: int | None) -> None:
    # An MP4 with its moov first opens fine when the media data was cut short: its index points past the end.
    if size is None:
        return
    entries = stream.index_entries
    if entries and len(entries) > 0:
        last = entries[len(entries) - 1]
        if last.pos >= 0 and last.pos + last.size > size:
            raise MediaInputError(
                "truncated",
                f"the file is cut short: its index expects {last.pos + last.size} bytes, the upload has {size}; "
                "upload the complete file",
            )


def _sample(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[list[int], list[av.VideoFrame]]:
    """The first packets' timestamps and the first decoded frames, in one pass."""
    import av

    pts: list[int] = []
    frames: list[av.VideoFrame] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and len(pts) < PTS_SAMPLE_PACKETS:
                pts.append(packet.pts)
            if len(frames) < DECODE_SAMPLE_FRAMES:
                frames.extend(packet.decode())
            if len(pts) >= PTS_SAMPLE_PACKETS and len(frames) >= DECODE_SAMPLE_FRAMES:
                break
    except av.error.FFmpegError as exc:
        if _unreachable(exc):
            raise
        # A damaged stream: what was read is enough for the facts, if anything decoded.
    if not frames:
        raise MediaInputError("truncated", "the video stream has no decodable frame: upload the complete file")
    return sorted(pts), frames


def _rotation(frames: list[av.VideoFrame]) -> Literal[0, 90, 180, 270]:
    # PyAV reports the display matrix as counter-clockwise degrees; players turn clockwise by its negation.
    ccw = frames[0].rotation or 0
    clockwise = (-round(ccw / 90) * 90) % 360
    return cast(Literal[0, 90, 180, 270], clockwise)


def _intervals(pts: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(pts) if b > a]


def _variable(intervals: list[int], stream: av.video.stream.VideoStream, fps: float, interlaced: bool) -> bool:
    if len(intervals) >= 2:
        median = statistics.median(intervals)
        if any(abs(d - median) > VFR_TOLERANCE * median for d in intervals):
            return True
    real = float(stream.base_rate) if stream.base_rate else 0.0
    if not real or not fps:
        return False
    ratio = real / fps
    # Interlaced H.264 often reports the field rate as r_frame_rate: twice the frame rate, not variable.
    if interlaced and abs(ratio - 2) < 0.02:
        return False
    return abs(ratio - 1) > 0.05


def _container_duration(container: av.container.InputContainer) -> float | None:
    import av

    return container.duration / av.time_base if container.duration and container.duration > 0 else None


def _stream_duration(stream: av.stream.Stream) -> float | None:
    if stream.duration and stream.duration > 0 and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _demuxed_duration(source: str, video: bool) -> float:
    """The end of the last packet, read through the whole file: for containers that state no duration
    (a browser's MediaRecorder WebM, raw streams)."""

    end = 0.0
    with open_source(source) as container:
        stream = _first_video(container) if video else container.streams.audio[0]
        assert stream is not None and stream.time_base is not None
        for packet in container.demux(stream):
            if packet.pts is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * stream.time_base))
    if end <= 0:
        raise MediaInputError("truncated", "the source has no timed packets: upload the complete file")
    return end


def _looks_iso_bmff(source: str) -> bool:
    """Whether the first box header is an MP4/MOV box (a file that says MP4 but could not be opened)."""
    head = _head(source, 12)
    return len(head) >= 8 and head[4:8] in ISO_BMFF_BOXES


def _head(source: str, n: int) -> bytes:
    if is_url(source):
        request = urllib.request.Request(source, headers={"Range": f"bytes=0-{n - 1}"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                return bytes(response.read(n))
        except OSError:
            return b""
    with open(source, "rb") as f:
        return f.read(n)


def _reason(exc: Exception) -> str:
    text = str(exc)
    # "[Errno 1094995529] Invalid data found when processing input: '/tmp/x.mp4'" -> the reason only.
    text = text.split("] ", 1)[-1].split(": '", 1)[0]
    return text.strip() or type(exc).__name__


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f}"
