"""ClipProvider that renders clips offline with ffmpeg: a slow zoom over the scene image.

No network and no key: the local cloud, the demo and the tests use it. submit renders the whole
clip at once (a Ken Burns zoom over the scene image, or over a gradient drawn from the prompt
when there is none, with the caption drawn by Pillow at the bottom and a quiet tone) and stores
it in the BlobStore under a key derived from the job id. It keeps no state between calls, as
each step is its own Lambda invocation: the job id carries the submit time, and poll answers
in_progress until `latency_s` has passed since then (as a real provider would), then completed.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from offload.ai.generation import ClipRequest, ClipStatus
from offload.ai.video_providers.blobs import BlobStore
from offload.errors import NonRetryableError
from offload.media.colour import to_srgb
from offload.media.facts import load_first_frame, open_image
from offload.media.video.ffmpeg import run_ffmpeg

PROVIDER = "local"
MODEL = "ffmpeg-ken-burns"
FPS = 30
ZOOM = 0.12  # the picture is 12% closer at the end of the clip
OVERSAMPLE = 2  # the zoom crops a picture this many times the frame size, so it moves smoothly
TONE_HZ = 220
TONE_VOLUME = 0.05  # quiet: a placeholder for narration, not a sound to listen to
KEY_PREFIX = "generate/local-clips/"
JOB_ID = re.compile(r"^local-(?P<ms>\d{13})-(?P<nonce>[0-9a-f]{12})$")
RENDER_TIMEOUT_S = 600.0


class LocalClipProvider:
    """ClipProvider rendering with ffmpeg into a BlobStore; `clock` gives epoch seconds."""

    def __init__(
        self,
        blobs: BlobStore,
        latency_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        *,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        if latency_s < 0:
            raise ValueError(f"latency_s is {latency_s}: give 0 or more seconds")
        self._blobs = blobs
        self._latency_s = latency_s
        self._clock = clock
        self._prefix = key_prefix

    @property
    def name(self) -> str:
        return PROVIDER

    @property
    def model(self) -> str:
        return MODEL

    def key(self, job_id: str) -> str:
        """The blob key of a job's clip."""
        _submitted_s(job_id)
        return f"{self._prefix}{job_id}.mp4"

    def submit(self, request: ClipRequest) -> str:
        """Render the clip and store it; returns a job id carrying the submit time."""
        if request.width % 2 or request.height % 2:
            raise NonRetryableError(
                f"clip size {request.width}x{request.height}: H.264 (yuv420p) needs even sizes; "
                f"ask for {request.width // 2 * 2}x{request.height // 2 * 2}"
            )
        job_id = f"local-{round(self._clock() * 1000):013d}-{uuid.uuid4().hex[:12]}"
        with tempfile.TemporaryDirectory(prefix="offload-clip-") as tmp:
            clip = render_clip(request, Path(tmp))
            self._blobs.put_file(self.key(job_id), clip)
        return job_id

    def poll(self, job_id: str) -> ClipStatus:
        """in_progress (with progress) until latency_s has passed since submit, then completed."""
        elapsed = self._clock() - _submitted_s(job_id)
        if elapsed < self._latency_s:
            progress = max(0, min(99, int(100 * elapsed / self._latency_s)))
            return ClipStatus(job_id=job_id, state="in_progress", progress=progress)
        if not self._blobs.exists(self.key(job_id)):
            return ClipStatus(job_id=job_id, state="failed", error=f"the clip {self.key(job_id)} is gone: submit again")
        return ClipStatus(job_id=job_id, state="completed", progress=100)

    def download(self, job_id: str, dest: Path) -> Path:
        """Copy the clip from the blob store to `dest`."""
        status = self.poll(job_id)
        if status.state != "completed":
            raise NonRetryableError(
                f"local clip {job_id} is {status.state}"
                + (f" ({status.error})" if status.error else "")
                + ": download it once poll says completed"
            )
        try:
            return self._blobs.get_file(self.key(job_id), dest)
        except KeyError:
            raise NonRetryableError(f"the clip {self.key(job_id)} is gone: submit the scene again") from None

    def cancel(self, job_id: str) -> bool:
        """True: nothing runs once submit returns; the clip stays until the bucket's lifecycle removes it."""
        _submitted_s(job_id)
        return True

    def cost_usd(self, seconds: float) -> float | None:
        """Free."""
        return 0.0


def render_clip(request: ClipRequest, workdir: Path) -> Path:
    """The clip for `request` as workdir/clip.mp4: H.264 yuv420p + AAC at 30 fps, `seconds` long
    (to the frame), `width` x `height`, a slow zoom over the picture with the caption at the bottom."""
    width, height = request.width, request.height
    frames = max(1, round(request.seconds * FPS))
    duration = frames / FPS
    picture = workdir / "picture.png"
    _picture(request, (width * OVERSAMPLE, height * OVERSAMPLE)).save(picture, format="PNG")
    inputs: list[str] = ["-i", str(picture)]
    zoom = f"zoompan=z='1+{ZOOM}*on/{max(1, frames - 1)}'" + (
        f":x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d={frames}:s={width}x{height}:fps={FPS}"
    )
    graph = f"[0:v]{zoom},setsar=1[moving]"
    if request.caption and request.caption.strip():
        caption = workdir / "caption.png"
        _caption(request.caption.strip(), width, height).save(caption, format="PNG")
        inputs += ["-i", str(caption)]
        # A still PNG input: overlay repeats its only frame for the whole clip.
        graph += ";[moving][1:v]overlay=x=0:y=main_h-overlay_h:format=auto[captioned]"
        last = "captioned"
    else:
        last = "moving"
    graph += f";[{last}]format=yuv420p[video]"
    tone = f"sine=frequency={TONE_HZ}:sample_rate=48000:duration={duration:.6f},volume={TONE_VOLUME}"
    out = workdir / "clip.mp4"
    run_ffmpeg(
        [
            "-loglevel",
            "error",
            *inputs,
            "-f",
            "lavfi",
            "-i",
            tone,
            "-filter_complex",
            graph,
            "-map",
            "[video]",
            "-map",
            f"{len(inputs) // 2}:a",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            "-r",
            str(FPS),
            "-g",
            str(FPS),
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-t",
            f"{duration:.6f}",
            "-movflags",
            "+faststart",
            str(out),
        ],
        what=f"rendering a {duration:g} s local clip",
        timeout_s=RENDER_TIMEOUT_S,
    )
    return out


def _picture(request: ClipRequest, size: tuple[int, int]) -> Image.Image:
    """The scene image cropped to fill `size`, or a gradient in two colours taken from the prompt."""
    if request.image_png is not None:
        image = open_image(request.image_png)  # ImageInputError (non-retryable) for a broken image
        load_first_frame(image)
        upright = to_srgb(ImageOps.exif_transpose(image)).convert("RGB")
        return ImageOps.fit(upright, size, method=Image.Resampling.LANCZOS)
    digest = hashlib.sha256(request.prompt.encode("utf-8")).digest()
    top = Image.new("RGB", size, (digest[0] // 2, digest[1] // 2, 64 + digest[2] // 2))
    bottom = Image.new("RGB", size, (128 + digest[3] // 2, 96 + digest[4] // 3, digest[5] // 2))
    mask = Image.linear_gradient("L").resize(size)
    return Image.composite(bottom, top, mask)


def _caption(text: str, width: int, height: int) -> Image.Image:
    """The caption as an RGBA band `width` wide: white text, wrapped, on a translucent dark box."""
    size = max(12, height // 16)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    # About 0.55 em per character: wrap to the frame, then measure what was drawn.
    columns = max(8, int(width * 0.9 / (size * 0.55)))
    lines = textwrap.wrap(text, width=columns)[:3] or [text[:columns]]
    body = "\n".join(lines)
    left, top, right, bottom = draw.multiline_textbbox((0, 0), body, font=font, align="center")
    pad = size // 2
    band_h = min(height, int(bottom - top) + 2 * pad)
    band = Image.new("RGBA", (width, band_h), (0, 0, 0, 140))
    x = (width - (right - left)) / 2 - left
    ImageDraw.Draw(band).multiline_text((x, pad - top), body, font=font, fill=(255, 255, 255, 255), align="center")
    return band


def _submitted_s(job_id: str) -> float:
    match = JOB_ID.match(job_id)
    if match is None:
        raise NonRetryableError(f"{job_id!r} is not a local clip job id (local-<ms>-<hex>): use the id submit returned")
    return int(match.group("ms")) / 1000
