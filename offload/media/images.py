"""Responsive variants of an uploaded image: a few widths in WebP and AVIF, plus a square thumbnail.

Pure functions on bytes (no AWS). The pipeline decodes once, shrinking JPEGs on load
(`Image.draft`, DCT scaling) to just above the largest width needed, applies the EXIF
orientation, converts to 8-bit sRGB (RGBA when the source has alpha), resizes from the
largest variant down (each from the previous one, LANCZOS), and encodes the variants in
parallel threads (Pillow's WebP and AVIF encoders release the GIL).
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from offload.errors import NonRetryableError
from offload.media.colour import UnsupportedModeError, has_alpha, to_srgb

OutputFormat = Literal["webp", "avif"]
InputErrorReason = Literal[
    "empty",
    "too_many_bytes",
    "not_an_image",
    "unsupported_format",
    "unsupported_mode",
    "truncated",
    "too_many_pixels",
]

CONTENT_TYPES: dict[str, str] = {"webp": "image/webp", "avif": "image/avif"}
# Formats we decode. Others Pillow knows (EPS, PSD, ICO, PCX, ...) are refused: a smaller attack
# surface, and nothing a browser upload form should send. MPO is what many cameras' JPEGs are.
INPUT_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP"})

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
# libavif speed (0 slowest .. 10 fastest; for a still image with libaom, cpu-used = min(speed, 9)
# in all-intra mode). 8 is ~10x faster than libavif's default 6 for ~5-15% more bytes at quality 80.
# sharp's `effort` maps to the same libaom cpu-used as 9 - effort, so speed 8 == sharp effort 1.
AVIF_SPEED = 8
# libwebp method (0 fastest .. 6 slowest), libwebp's and sharp's default.
WEBP_METHOD = 4

_ORIENTATION_TAG = 0x0112
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})


class ImageInputError(NonRetryableError):
    """The upload can't be turned into variants: retrying can't help. `reason` is a stable code."""

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


@dataclass(frozen=True, slots=True)
class Variant:
    """One encoded image: a responsive width or the square thumbnail."""

    kind: Literal["variant", "thumbnail"]
    width: int
    height: int
    format: OutputFormat
    data: bytes

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def byte_size(self) -> int:
        return len(self.data)

    @property
    def name(self) -> str:
        """A file name for storage, e.g. `1024w.webp` or `thumb-256.webp`."""
        stem = f"thumb-{self.width}" if self.kind == "thumbnail" else f"{self.width}w"
        return f"{stem}.{self.format}"


@dataclass(frozen=True, slots=True)
class VariantSet:
    """The variants of one upload, largest first, the thumbnail (if asked for) and the source's facts."""

    source: SourceInfo
    variants: tuple[Variant, ...]
    thumbnail: Variant | None

    def get(self, width: int, format: OutputFormat) -> Variant:
        """The variant of that width and format (KeyError if it was not produced)."""
        for v in self.variants:
            if v.width == width and v.format == format:
                return v
        raise KeyError(f"no {width}w {format} variant; have {[v.name for v in self.variants]}")

    @property
    def all(self) -> tuple[Variant, ...]:
        return self.variants + ((self.thumbnail,) if self.thumbnail else ())

    @property
    def total_bytes(self) -> int:
        return sum(v.byte_size for v in self.all)


def make_variants(
    data: bytes,
    *,
    widths: Sequence[int] = (640, 1024, 1920),
    formats: Sequence[OutputFormat] = ("webp", "avif"),
    quality: int = 80,
    thumbnail: int | None = 256,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    avif_speed: int = AVIF_SPEED,
    threads: int | None = None,
) -> VariantSet:
    """Encode `data` at each width (never enlarging) in each format, plus a square WebP thumbnail.

    Widths wider than the original are skipped; if the original is narrower than every width,
    one variant is made at its own width. The aspect ratio is kept; the thumbnail is a centre
    crop, `thumbnail` pixels square (smaller if the image is), or none when `thumbnail` is None.

    Output is 8-bit sRGB with no metadata: EXIF orientation applied, an ICC profile converted
    to sRGB and dropped, CMYK/16-bit/palette/greyscale converted, alpha kept (RGBA in, RGBA out).

    Animated GIF/WebP/AVIF: the variants are stills of the first frame; `source.frames` records
    how many frames the original has, so a caller can keep or transcode the original itself.

    Raises ImageInputError (non-retryable, `reason` a stable code) for an empty, oversized,
    truncated, unrecognised, unsupported or too-many-pixels input; ValueError for bad arguments.
    """
    _check_arguments(widths, formats, quality, thumbnail, avif_speed)
    im = _open(data, max_bytes=max_bytes, max_pixels=max_pixels)
    base: Image.Image | None = None
    try:
        source = _source_info(im, len(data))
        sizes = plan_sizes(source.width, source.height, widths)
        if im.format in ("JPEG", "MPO"):
            _draft(im, source, _needed_scale(source, sizes[0][0], thumbnail))
        _load(im)
        ImageOps.exif_transpose(im, in_place=True)
        try:
            base = to_srgb(im)
        except UnsupportedModeError as exc:
            raise ImageInputError("unsupported_mode", f"unsupported image: {exc}") from exc
    finally:
        if base is not im:  # closing an ImageFile also discards its pixels
            im.close()

    # Resize on this thread while the pool encodes what is ready: the first encodes start as soon
    # as the largest size exists. AVIF first at each size: it takes longest.
    order = sorted(dict.fromkeys(formats), key=lambda f: f != "avif")
    workers = max(1, min(threads or _cpu_count(), len(sizes) * len(formats) + 1))
    pending: list[tuple[Literal["variant", "thumbnail"], Image.Image, OutputFormat, Future[bytes]]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def submit(kind: Literal["variant", "thumbnail"], img: Image.Image, fmt: OutputFormat) -> None:
            future = pool.submit(encode, img, fmt, quality=quality, avif_speed=avif_speed)
            pending.append((kind, img, fmt, future))

        resized = []
        current = base
        for size in sizes:
            if current.size != size:
                current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            resized.append(current)
            for fmt in order:
                submit("variant", current, fmt)
        if thumbnail:
            submit("thumbnail", _thumbnail(base, resized, thumbnail), "webp")
        out = [
            Variant(kind=kind, width=img.width, height=img.height, format=fmt, data=future.result())
            for kind, img, fmt, future in pending
        ]
    variants = tuple(sorted((v for v in out if v.kind == "variant"), key=lambda v: (-v.width, formats.index(v.format))))
    thumb = next((v for v in out if v.kind == "thumbnail"), None)
    return VariantSet(source=source, variants=variants, thumbnail=thumb)


def probe(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> SourceInfo:
    """Check that an upload is a usable image (limits, headers and a full decode, which catches
    truncation) and return its facts; raises ImageInputError like make_variants."""
    im = _open(data, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        source = _source_info(im, len(data))
        if im.format in ("JPEG", "MPO"):
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))  # reads every byte, decodes 1/64
        _load(im)
        return source
    finally:
        im.close()


def plan_sizes(width: int, height: int, widths: Iterable[int]) -> list[tuple[int, int]]:
    """The (width, height) of each variant, largest first: no enlargement, aspect ratio kept."""
    fitting = sorted({w for w in widths if w <= width}, reverse=True) or [width]
    return [(w, max(1, round(height * w / width))) for w in fitting]


def encode(im: Image.Image, fmt: OutputFormat, *, quality: int, avif_speed: int = AVIF_SPEED) -> bytes:
    """Encode an RGB/RGBA image as WebP or AVIF (4:2:0 chroma), with no metadata."""
    buf = io.BytesIO()
    if fmt == "webp":
        im.save(buf, "WEBP", quality=quality, method=WEBP_METHOD, icc_profile=b"", exif=b"")
    else:
        # One libaom thread per encode: the variants are already encoded in parallel.
        im.save(
            buf,
            "AVIF",
            quality=quality,
            speed=avif_speed,
            subsampling="4:2:0",
            max_threads=1,
            icc_profile=b"",
            exif=b"",
        )
    return buf.getvalue()


def _check_arguments(
    widths: Sequence[int], formats: Sequence[str], quality: int, thumbnail: int | None, avif_speed: int
) -> None:
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"widths must be positive integers, got {list(widths)!r}")
    unknown = [f for f in formats if f not in CONTENT_TYPES]
    if not formats or unknown:
        raise ValueError(f"formats must be among {sorted(CONTENT_TYPES)}, got {list(formats)!r}")
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be 0..100, got {quality}")
    if thumbnail is not None and thumbnail < 1:
        raise ValueError(f"thumbnail must be a positive size or None, got {thumbnail}")
    if not 0 <= avif_speed <= 10:
        raise ValueError(f"avif_speed must be 0..10, got {avif_speed}")


def _open(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
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


def _load(im: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.seek(0)  # animated: the first frame
            im.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageInputError("too_many_pixels", f"image rejected as a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError("truncated", f"image data is truncated or corrupt ({im.format}): {exc}") from exc


def _source_info(im: Image.Image, byte_size: int) -> SourceInfo:
    try:
        orientation = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except (OSError, SyntaxError, ValueError, TypeError):
        orientation = 1  # unreadable EXIF: show the pixels as stored
    if orientation not in range(1, 9):
        orientation = 1
    width, height = im.size
    if orientation in _TRANSPOSING_ORIENTATIONS:
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
        orientation=orientation,
        byte_size=byte_size,
    )


def _needed_scale(source: SourceInfo, largest_width: int, thumbnail: int | None) -> float:
    """The smallest fraction of the original that still covers the largest variant and the thumbnail."""
    scale = largest_width / source.width
    if thumbnail:
        scale = max(scale, min(1.0, thumbnail / min(source.width, source.height)))
    return scale


def _draft(im: Image.Image, source: SourceInfo, scale: float) -> None:
    """JPEG shrink-on-load: libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below what's needed."""
    if scale >= 0.5:
        return
    stored_w, stored_h = im.size
    im.draft(None, (math.ceil(stored_w * scale), math.ceil(stored_h * scale)))


def _thumbnail(base: Image.Image, resized: list[Image.Image], side: int) -> Image.Image:
    """A centre-cropped square from the smallest image that still covers it."""
    candidates = [img for img in reversed(resized) if min(img.size) >= side]
    source = candidates[0] if candidates else base
    side = min(side, *source.size)
    return ImageOps.fit(source, (side, side), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"


def _mp(n: int) -> str:
    return f"{n / 1_000_000:.2f}".rstrip("0").rstrip(".")
