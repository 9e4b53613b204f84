"""What an uploaded video or audio file is, and the limits offload accepts.

`probe(source)` (PyAV) is the one way offload reads stream facts: codecs, duration, coded and
displayed dimensions, rotation, frame rate (and whether it varies), bit depth, HDR transfer,
interlacing and the audio track. Every bad input leaves as MediaInputError with a stable code,
so the pipeline records `failed` with a readable reason and never retries it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from offload.errors import NonRetryableError

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
    """The first video stream. `width`/`height` are coded; `display_*` are as shown (rotation applied)."""

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


def probe(source: str, *, size: int | None = None, limits: Limits | None = None) -> MediaFacts:
    """Facts of `source` (a path or an http(s) URL, such as a presigned S3 GET), checked against `limits`.

    Raises MediaInputError for empty, truncated, non-media, stream-less, unsupported-codec and
    over-limit sources, each with a message naming what is wrong and the limit or list it broke."""
    raise NotImplementedError("probe: built by the media helper")
