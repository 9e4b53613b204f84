"""Deterministic, offline stand-ins for the AI providers, used when no API key is configured.

`LocalVisionAnalyzer` reports only what it can measure with Pillow: size, orientation,
dominant colours, brightness and saturation. It does not recognise objects or scenes and
its description says so. `HashingEmbedder` is lexical, not semantic: texts that share
words (or spelling fragments) are close, synonyms are not ("car" is no closer to
"automobile" than to "banana"); it is only the fallback for when the ONNX MiniLM embedder
(`offload.ai.onnx_embedder`) cannot load, which `offload.ai.factory.local_embedder` logs.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
from typing import cast

from PIL import Image, ImageStat

from offload.ai.ports import ImageMetadata
from offload.media.images import normalise

PROVIDER = "local"
VISION_MODEL = "local-pillow-v1"
NOT_RECOGNISED = "(Local analyzer: objects and scenes are not recognised without an AI provider.)"

_SAMPLE_SIZE = 128  # pixels on the long side: plenty for colour statistics, cheap to compute
_DECODE_SIZE = _SAMPLE_SIZE * 4  # the normalised copy measured (JPEGs are decoded at reduced size)
_PALETTE_SIZE = 8  # quantize to this many colours, report the top 5
_GRAPHIC_MAX_COLORS = 512  # distinct 5-bit colours in the sample below which an image looks drawn


class LocalVisionAnalyzer:
    """VisionAnalyzer from measurable facts only (no network, no model)."""

    model = VISION_MODEL

    def describe(self, image: bytes, *, content_type: str) -> ImageMetadata:
        """Measure `image` (any upload `media.probe` accepts); undecodable bytes raise ImageInputError
        (NonRetryableError) with the reason."""
        source, img = normalise(image, max_side=_DECODE_SIZE)  # sRGB, oriented: width/height as displayed
        width, height = source.width, source.height
        fmt = source.format.lower()
        sample = _sample(img)

        colors = _dominant_colors(sample)
        brightness, saturation = _brightness_saturation(sample)
        orientation = "landscape" if width > height else "portrait" if height > width else "square"
        light = "dark" if brightness < 0.3 else "bright" if brightness > 0.65 else ""
        chroma = "grayscale" if saturation < 0.05 else "muted" if saturation < 0.25 else ""
        chroma = chroma or ("vivid" if saturation > 0.55 else "")
        mood = " and ".join(w for w in (light, chroma) if w) or "balanced"
        category = "graphic" if _distinct_colors(img) <= _GRAPHIC_MAX_COLORS else "photo"
        names = list(dict.fromkeys(color_name(c) for c in colors))

        tags = [orientation, category, *(w for w in (light, chroma) if w), *names[:3]]
        if source.has_alpha:
            tags.append("transparent")
        if max(width, height) >= 1920:
            tags.append("high-resolution")
        elif max(width, height) < 512:
            tags.append("small")
        if fmt:
            tags.append(fmt)

        return ImageMetadata(
            description=_describe(width, height, orientation, colors, mood),
            tags=tags,
            category=category,
            dominant_colors=colors,
            mood=mood,
            provider=PROVIDER,
            model=VISION_MODEL,
            width=width,
            height=height,
        )


HASHING_MIN_DIMENSIONS = 16


class HashingEmbedder:
    """Embedder by the hashing trick: word and character-trigram features, sha1-hashed, L2-normalised.

    Lexical, not semantic (see the module docstring). Deterministic across processes and
    machines, so vectors stored by one run can be queried by another.
    """

    def __init__(self, dimensions: int = 256) -> None:
        if dimensions < HASHING_MIN_DIMENSIONS:
            raise ValueError(f"dimensions={dimensions} is too small for useful hashing: use 64 or more")
        self._dimensions = dimensions

    @property
    def model(self) -> str:
        return f"local-hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text (all zeros for a text without words)."""
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self._dimensions
        for feature, weight in _features(text):
            digest = hashlib.sha1(feature.encode("utf-8")).digest()
            index = int.from_bytes(digest[:4], "big") % self._dimensions
            # A hashed sign keeps collisions from always adding up (they cancel on average).
            vector[index] += weight if digest[4] & 1 else -weight
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector


def color_name(hex_color: str) -> str:
    """A basic colour word for '#rrggbb' (red, orange, ..., gray), from its hue, saturation and value."""
    r, g, b = (int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
    if val < 0.2:
        return "black"
    if sat < 0.15:
        return "white" if val > 0.85 else "gray"
    degrees = hue * 360
    if degrees < 15 or degrees >= 345:
        return "red"
    if degrees < 45:
        return "brown" if val < 0.6 else "orange"
    for limit, name in ((70, "yellow"), (170, "green"), (200, "cyan"), (260, "blue"), (290, "purple")):
        if degrees < limit:
            return name
    return "pink"


_WORD = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> list[tuple[str, float]]:
    """Whole words weigh 1; character trigrams of each word weigh 0.5 (they catch plurals and typos)."""
    features: list[tuple[str, float]] = []
    for word in _WORD.findall(text.lower()):
        features.append(("w:" + word, 1.0))
        padded = f" {word} "
        features.extend(("c:" + padded[i : i + 3], 0.5) for i in range(len(padded) - 2))
    return features


def _sample(img: Image.Image) -> Image.Image:
    """A small RGB copy of a normalised (RGB or RGBA) image; transparent areas are shown over white,
    as a viewer would."""
    small = img.copy()
    small.thumbnail((_SAMPLE_SIZE, _SAMPLE_SIZE))
    if small.mode == "RGBA":
        background = Image.new("RGBA", small.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, small).convert("RGB")
    return small.convert("RGB")


def _dominant_colors(sample: Image.Image, top: int = 5) -> list[str]:
    quantized = sample.quantize(colors=_PALETTE_SIZE, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors(_PALETTE_SIZE) or [], reverse=True)
    indexes = [cast(int, index) for _, index in counts]  # a "P" image's colours are palette indexes
    colors = ["#{:02x}{:02x}{:02x}".format(*palette[i * 3 : i * 3 + 3]) for i in indexes]
    return list(dict.fromkeys(colors))[:top]


def _brightness_saturation(sample: Image.Image) -> tuple[float, float]:
    """Mean luma and mean HSV saturation, both 0..1."""
    brightness = ImageStat.Stat(sample.convert("L")).mean[0] / 255
    saturation = ImageStat.Stat(sample.convert("HSV")).mean[1] / 255
    return brightness, saturation


def _distinct_colors(img: Image.Image) -> int:
    """Distinct colours (5 bits per channel) in a nearest-neighbour sample: drawings have few, photos many."""
    sample = img.resize((_SAMPLE_SIZE, _SAMPLE_SIZE), Image.Resampling.NEAREST).convert("RGB")
    reduced = sample.point(lambda v: v & 0xF8)
    found = reduced.getcolors(_SAMPLE_SIZE * _SAMPLE_SIZE)
    return len(found) if found is not None else _SAMPLE_SIZE * _SAMPLE_SIZE


def _describe(width: int, height: int, orientation: str, colors: list[str], mood: str) -> str:
    named = [f"{color_name(c)} ({c})" for c in colors[:2]]
    palette = f"mostly {' and '.join(named)}" if named else "no measurable colours"
    return f"A {width}x{height} {orientation} image, {palette}, {mood}. {NOT_RECOGNISED}"
