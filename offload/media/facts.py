"""Facts about an uploaded image, and the one way offload decodes one.

The single home of: the input limits and formats, decoding with its error mapping
(an unreadable, truncated, unsupported or oversized upload -> ImageInputError, which is
NonRetryableError with a readable reason), EXIF orientation, alpha detection, and the MIME
type of a Pillow format. The variants, the vision copy, the local analyzer and the pipeline
steps all use these, so every step accepts exactly what `inspect` (`probe`) accepts.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, UnidentifiedImageError

from offload.errors import NonRetryableError

InputErrorReason = Literal[
    "empty",
    "too_many_bytes",
    "not_an_image",
    "unsupported_format",
    "unsupported_mode",
    "truncated",
    "too_many_pixels",
]

# Formats we decode. Others Pillow knows (EPS, PSD, ICO, PCX, ...) are refused: a smaller attack
# surface, and nothing a browser upload form should send. MPO is what many cameras' JPEGs are.
INPUT_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP"})
# The MIME type of each Pillow format offload reads or writes (keys are Pillow's format names).
MIME_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra frames; every JPEG reader shows the first
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000

ORIENTATION_TAG = 0x0112
# EXIF orientations that swap width and height when the image is displayed.
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
# Modes that carry an alpha channel of their own; P, L, RGB and I can carry one via `transparency`.
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


class ImageInputError(NonRetryableError):
    """The upload can't be used as an image: retrying can't help. `reason` is a stable code."""

    def __init__(self, reason: InputErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: InputErrorReason = reason


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Facts about the original upload. width and height are as displayed (EXIF orientation applied)."""

    format: str
    width: int
    height: int
    mode: str
    has_alpha: bool
    frames: int
    orientation: int
    byte_size: int

    @property
    def animated(self) -> bool:
        return self.frames > 1

    @property
    def content_type(self) -> str:
        return mime_type(self.format)


def mime_type(fmt: str) -> str:
    """The MIME type of a Pillow format name ("JPEG" -> "image/jpeg"); ValueError for one offload doesn't use."""
    try:
        return MIME_TYPES[fmt.upper()]
    except KeyError:
        raise ValueError(f"no MIME type for image format {fmt!r}; known: {', '.join(sorted(MIME_TYPES))}") from None


def has_alpha(im: Image.Image) -> bool:
    """True when the image has an alpha channel or a transparent colour."""
    return im.mode in ALPHA_MODES or "transparency" in im.info


def orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8); 1 when it is missing, unreadable or out of range."""
    try:
        value = int(im.getexif().get(ORIENTATION_TAG, 1))
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1  # unreadable EXIF: show the pixels as stored
    return value if value in range(1, 9) else 1


def probe(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> SourceInfo:
    """Check that an upload is a usable image (limits, headers and a full decode, which catches
    truncation) and return its facts; raises ImageInputError."""
    im = open_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        source = source_info(im, len(data))
        if im.format in ("JPEG", "MPO"):
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))  # reads every byte, decodes 1/64
        load_first_frame(im)
        return source
    finally:
        im.close()


def open_image(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open (headers only) and check size, format and pixel count before anything is decoded."""
    if not data:
        raise ImageInputError("empty", "empty upload: the image has zero bytes")
    if len(data) > max_bytes:
        raise ImageInputError(
            "too_many_bytes",
            f"image is {_mib(len(data))} MiB, over the {_mib(max_bytes)} MiB limit ({max_bytes} bytes)",
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            # Pillow's own bomb check (a process-wide limit, about 89 MP) warns here; ours follows below
            # with a clearer message, and a recorded warning is still an error.
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageInputError(
            "not_an_image", f"not an image: cannot identify image file (first bytes {data[:4].hex(' ')})"
        ) from exc
    except Image.DecompressionBombError as exc:
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{_mp(int(pixels.group(1)))} MP" if pixels else "too many pixels"
        raise ImageInputError(
            "too_many_pixels", f"image is {size}, over the {_mp(max_pixels)} MP limit (decompression bomb: {exc})"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError("truncated", f"image header is truncated or corrupt: {exc}") from exc
    if im.format not in INPUT_FORMATS:
        im.close()
        raise ImageInputError(
            "unsupported_format", f"unsupported image format {im.format}; supported: {', '.join(sorted(INPUT_FORMATS))}"
        )
    width, height = im.size
    bomb = next((w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)), None)
    if width * height > max_pixels or bomb is not None:
        im.close()
        over = f"the {_mp(max_pixels)} MP limit"
        if bomb is not None and width * height <= max_pixels:
            over = f"Pillow's decompression-bomb limit ({bomb.message})"
        raise ImageInputError("too_many_pixels", f"image is {width}x{height} = {_mp(width * height)} MP, over {over}")
    return im


def load_first_frame(im: Image.Image) -> None:
    """Decode the pixels (the first frame of an animation); truncation and bombs -> ImageInputError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.seek(0)  # animated: the first frame
            im.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageInputError("too_many_pixels", f"image rejected as a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError("truncated", f"image data is truncated or corrupt ({im.format}): {exc}") from exc


def source_info(im: Image.Image, byte_size: int) -> SourceInfo:
    """The facts of an opened image (headers only are needed)."""
    turn = orientation(im)
    width, height = im.size
    if turn in TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    try:
        frames = int(getattr(im, "n_frames", 1))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError("truncated", f"animation frames are truncated or corrupt ({im.format}): {exc}") from exc
    return SourceInfo(
        format=str(im.format),
        width=width,
        height=height,
        mode=im.mode,
        has_alpha=has_alpha(im),
        frames=frames,
        orientation=turn,
        byte_size=byte_size,
    )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"


def _mp(n: int) -> str:
    return f"{n / 1_000_000:.2f}".rstrip("0").rstrip(".")
