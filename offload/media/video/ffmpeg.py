"""The ffmpeg binary offload runs, and running it.

On Lambda the ffmpeg layer puts a static build at /opt/bin/ffmpeg; elsewhere (the local cloud,
tests, the bench) the imageio-ffmpeg wheel's binary for the host is used. OFFLOAD_FFMPEG names
another binary. The builds are GPL (see NOTICE).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from offload.errors import NonRetryableError, RetryableError

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
