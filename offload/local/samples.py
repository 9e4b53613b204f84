"""Sample photographs for the demo and the tests, drawn by code (no downloads, no licences to track)."""

from __future__ import annotations

import io
import random
import zlib
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize(size, Image.Resampling.BICUBIC)


def _grain(img: Image.Image, amount: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    noise = Image.frombytes("L", img.size, rng.randbytes(img.width * img.height))
    return Image.blend(img, Image.merge("RGB", (noise, noise, noise)), amount / 100)


def sunset(width: int = 2400, height: int = 1600) -> bytes:
    """An orange-and-violet sunset over dark hills, as a JPEG."""
    img = _gradient((width, height), (255, 140, 40), (90, 30, 110))
    draw = ImageDraw.Draw(img)
    r = height // 8
    draw.ellipse((width * 0.6 - r, height * 0.55 - r, width * 0.6 + r, height * 0.55 + r), fill=(255, 220, 120))
    hills = [(0, height)] + [
        (x, int(height * (0.68 + 0.06 * ((x * 7919) % 13) / 13))) for x in range(0, width + 200, 200)
    ]
    draw.polygon([*hills, (width, height)], fill=(35, 20, 45))
    img = _grain(img.filter(ImageFilter.GaussianBlur(2)), 6, 1)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def forest_lake(width: int = 1920, height: int = 1280) -> bytes:
    """Green forest around a blue lake under a pale sky, as a JPEG."""
    img = _gradient((width, height), (190, 215, 235), (40, 90, 50))
    draw = ImageDraw.Draw(img)
    rng = random.Random(7)
    for _ in range(140):
        x, base = rng.randrange(width), int(height * (0.45 + rng.random() * 0.2))
        h = rng.randrange(height // 8, height // 3)
        draw.polygon([(x, base - h), (x - h // 4, base), (x + h // 4, base)], fill=(20, rng.randrange(70, 120), 35))
    draw.ellipse((width * 0.15, height * 0.66, width * 0.85, height * 0.98), fill=(40, 95, 160))
    img = _grain(img.filter(ImageFilter.GaussianBlur(1.5)), 5, 2)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


def logo(size: int = 1200) -> bytes:
    """A flat two-colour badge with a transparent background, as a PNG."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((size * 0.1, size * 0.1, size * 0.9, size * 0.9), fill=(20, 110, 200, 255))
    draw.rectangle((size * 0.3, size * 0.45, size * 0.7, size * 0.55), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """A real JPEG cut in half (an interrupted upload)."""
    whole = forest_lake(800, 600)
    return whole[: len(whole) // 2]


def pixel_bomb() -> bytes:
    """A tiny PNG whose header claims 30000 x 30000 pixels (900 MP): a decompression bomb."""
    out = io.BytesIO()
    Image.new("1", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    # IHDR starts at byte 8: length(4) type(4) width(4) height(4) ... crc(4) over type+data.
    data[16:24] = (30000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def icon() -> bytes:
    """A Windows .ico file: an image, but not a format the pipeline accepts."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, "ICO")
    return out.getvalue()


PHOTOS: dict[str, Callable[[], bytes]] = {
    "sunset over hills.jpg": sunset,
    "forest lake+pines.jpg": forest_lake,
    "badge ünïcode.png": logo,
}
BAD_INPUTS: dict[str, Callable[[], bytes]] = {
    "empty.jpg": lambda: b"",
    "interrupted.jpg": truncated_jpeg,
    "notes.png": lambda: b"these are meeting notes, not a picture\n",
    "favicon.ico": icon,
    "bomb.png": pixel_bomb,
}
