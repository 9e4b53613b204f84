"""Images derived from an upload: responsive variants (a few widths in WebP and AVIF, plus a square
thumbnail) and the vision copy (`vision_copy`, what a vision model is shown), both through one decode
path (`_decode_srgb`, on top of `offload.media.facts`).

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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps

from offload.media.colour import UnsupportedModeError, to_srgb
from offload.media.facts import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageInputError,
    SourceInfo,
    load_first_frame,
    mime_type,
    open_image,
    source_info,
)

OutputFormat = Literal["webp", "avif"]
CONTENT_TYPES: dict[str, str] = {fmt: mime_type(fmt) for fmt in ("webp", "avif")}
# libavif speed (0 slowest .. 10 fastest; for a still image with libaom, cpu-used = min(speed, 9)
# in all-intra mode). 8 is ~10x faster than libavif's default 6 for ~5-15% more bytes at quality 80.
# sharp's `effort` maps to the same libaom cpu-used as 9 - effort, so speed 8 == sharp effort 1.
AVIF_SPEED = 8
# libwebp method (0 fastest .. 6 slowest), libwebp's and sharp's default.
WEBP_METHOD = 4
# The vision copy's longest side: detail "high" tiles at most 2048 px, "low" sees 512 px.
VISION_MAX_SIDE = 1536
VISION_JPEG_QUALITY = 85


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
class EncodedImage:
    """An encoded derivative of an upload (the vision copy) and the original's facts."""

    data: bytes
    format: str
    width: int
    height: int
    source: SourceInfo

    @property
    def content_type(self) -> str:
        return mime_type(self.format)

    @property
    def byte_size(self) -> int:
        return len(self.data)


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
    source, base = _decode_srgb(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        scale=lambda s: _needed_scale(s, plan_sizes(s.width, s.height, widths)[0][0], thumbnail),
    )
    sizes = plan_sizes(source.width, source.height, widths)

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


def normalise(
    data: bytes,
    *,
    max_side: int = VISION_MAX_SIDE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[SourceInfo, Image.Image]:
    """The upload's facts and its first frame as 8-bit sRGB RGB (RGBA when it has alpha), EXIF
    orientation applied, no metadata, the longest side at most `max_side` (never enlarged).

    Any input `probe` accepts is accepted here (16/32-bit and float greyscale, CMYK, palette, 1-bit, ...).
    Raises ImageInputError like probe.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    source, im = _decode_srgb(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        scale=lambda s: min(1.0, max_side / max(s.width, s.height)),
    )
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return source, im


def vision_copy(data: bytes, *, max_side: int = VISION_MAX_SIDE) -> EncodedImage:
    """What a vision model is shown: `normalise`d and encoded as JPEG, or PNG when it has visible alpha.

    Every format the vision APIs take (PNG, JPEG, WebP, still GIF, up to 20 MB), whatever the upload was:
    TIFF, BMP, AVIF, animated, 16-bit, CMYK or 50 MB. At the default size a JPEG is a few hundred KB and
    a PNG at most ~10 MB (1536 x 1536 x 4 bytes).
    """
    source, im = normalise(data, max_side=max_side)
    if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
        im = im.convert("RGB")  # an alpha channel with nothing transparent: JPEG is far smaller
    buf = io.BytesIO()
    if im.mode == "RGBA":
        im.save(buf, "PNG", compress_level=6)
        fmt = "PNG"
    else:
        im.save(buf, "JPEG", quality=VISION_JPEG_QUALITY)
        fmt = "JPEG"
    return EncodedImage(data=buf.getvalue(), format=fmt, width=im.width, height=im.height, source=source)


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


def _decode_srgb(
    data: bytes, *, max_bytes: int, max_pixels: int, scale: Callable[[SourceInfo], float]
) -> tuple[SourceInfo, Image.Image]:
    """Open, check, decode (JPEGs shrunk on load to `scale(source)` of the original, never below),
    apply the EXIF orientation and convert to sRGB RGB/RGBA: the one decode path of every output."""
    im = open_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    base: Image.Image | None = None
    try:
        source = source_info(im, len(data))
        if im.format in ("JPEG", "MPO"):
            _draft(im, scale(source))
        load_first_frame(im)
        ImageOps.exif_transpose(im, in_place=True)
        try:
            base = to_srgb(im)
        except UnsupportedModeError as exc:
            raise ImageInputError("unsupported_mode", f"unsupported image: {exc}") from exc
    finally:
        if base is not im:  # closing an ImageFile also discards its pixels
            im.close()
    return source, base


def _needed_scale(source: SourceInfo, largest_width: int, thumbnail: int | None) -> float:
    """The smallest fraction of the original that still covers the largest variant and the thumbnail."""
    scale = largest_width / source.width
    if thumbnail:
        scale = max(scale, min(1.0, thumbnail / min(source.width, source.height)))
    return scale


def _draft(im: Image.Image, scale: float) -> None:
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
