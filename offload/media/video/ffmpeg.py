"""The ffmpeg binary offload runs, running it, and how libav may open media offload did not make.

On Lambda the ffmpeg layer puts a static build at /opt/bin/ffmpeg; elsewhere (the local cloud,
tests, the bench) the imageio-ffmpeg wheel's binary for the host is used. OFFLOAD_FFMPEG names
another binary. The builds are GPL (see NOTICE).

An upload, a live segment or a provider's clip is opened only with `SOURCE_DEMUXERS` and the one protocol
its path or URL needs (`open_source`, `source_options`): left to itself libav picks the demuxer from the
content, and an upload holding an HLS or DASH playlist or a concat list is read as one, so libav would
fetch every URL or path it lists from inside the function (SSRF into the VPC, local files).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from offload.errors import NonRetryableError, RetryableError

if TYPE_CHECKING:
    import av.container

# Containers of real media only: no playlists (hls, dash), lists (concat, ffmetadata), image sequences,
# devices or network protocols, which name other inputs for libav to open.
SOURCE_DEMUXERS = (
    "mov",  # mov,mp4,m4a,3gp,3g2,mj2
    "matroska",  # matroska,webm
    "avi",
    "mpegts",
    "mpeg",
    "flv",
    "asf",
    "mxf",
    "ogg",
    "wav",
    "w64",
    "aiff",
    "caf",
    "mp3",
    "aac",
    "flac",
    "amr",
    "ivf",
    "h264",
    "hevc",
)
HTTP_TIMEOUT_S = 30.0  # libav's socket timeout for a presigned URL (it waits forever by default)
LAYER_FFMPEG = Path("/opt/bin/ffmpeg")
FFMPEG_ENV = "OFFLOAD_FFMPEG"
STDERR_TAIL_LINES = 12


class FfmpegMissingError(NonRetryableError):
    """No ffmpeg binary: the function lacks the ffmpeg layer, or the host lacks the video extra."""


class FfmpegError(RetryableError):
    """ffmpeg exited non-zero on input that probed fine: kept retryable (out of /tmp, killed, ...)."""

    def __init__(self, what: str, returncode: int, stderr: str) -> None:
        self.what = what
        self.returncode = returncode
        self.stderr_tail = "\n".join(stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
        super().__init__(f"{what}: ffmpeg exited {returncode}: {self.stderr_tail}")


@cache
def ffmpeg_exe() -> str:
    """The ffmpeg to run: $OFFLOAD_FFMPEG, the layer's /opt/bin/ffmpeg, else the imageio-ffmpeg wheel's."""
    named = os.environ.get(FFMPEG_ENV)
    if named:
        if not (shutil.which(named) or Path(named).is_file()):
            raise FfmpegMissingError(f"{FFMPEG_ENV}={named} is not an executable: fix or unset it")
        return named
    if LAYER_FFMPEG.is_file():
        return str(LAYER_FFMPEG)
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FfmpegMissingError(
            "no ffmpeg: on Lambda the function needs the video pack's ffmpeg layer (/opt/bin/ffmpeg); "
            "elsewhere install offload's video extra (pip install 'offload[video]') or set OFFLOAD_FFMPEG"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(args: Sequence[str | os.PathLike[str]], *, what: str, timeout_s: float | None = None) -> str:
    """Run `ffmpeg -hide_banner -nostdin -y <args>`; return its stderr (where ffmpeg reports).

    A non-zero exit raises FfmpegError naming `what` with ffmpeg's last lines."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *(os.fspath(a) for a in args)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        # TimeoutExpired carries bytes whatever `text` says.
        partial = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise FfmpegError(what, -9, f"timed out after {timeout_s} s\n{partial}") from None
    if result.returncode != 0:
        raise FfmpegError(what, result.returncode, result.stderr)
    return result.stderr


def is_url(source: str) -> bool:
    """Whether `source` is an http(s) URL (a presigned S3 GET) rather than a local path."""
    return source.startswith(("http://", "https://"))


def source_options(source: str) -> dict[str, str]:
    """libav's options for opening media offload did not make: a real container, and only the protocol of
    its own path or URL (http for the local cloud's S3, https on AWS)."""
    protocols = "http,https,tcp,tls" if is_url(source) else "file"
    return {"format_whitelist": ",".join(SOURCE_DEMUXERS), "protocol_whitelist": protocols}


def source_args(source: str) -> list[str]:
    """`source_options` as ffmpeg input options, for before its `-i source`."""
    return [arg for name, value in source_options(source).items() for arg in (f"-{name}", value)]


def open_source(source: str) -> av.container.InputContainer:
    """PyAV's container for an upload, a segment or a clip (path or URL), opened under `source_options`."""
    import av

    return av.open(source, options=source_options(source), timeout=HTTP_TIMEOUT_S if is_url(source) else None)
