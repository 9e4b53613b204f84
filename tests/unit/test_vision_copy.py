"""Specification of offload.media.images.vision_copy: what a vision model is shown of an upload."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from offload.media import ImageInputError, vision_copy
from offload.media.facts import ORIENTATION_TAG


def encoded(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, format=fmt, **params)
    return out.getvalue()


def shown(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def palette_with_transparency() -> Image.Image:
    im = Image.new("P", (60, 40), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (30, 0, 60, 40))
    im.info["transparency"] = 1
    return im


# mode -> (upload bytes, the format the model is sent, the mode it decodes to, a pixel and its expected value)
CASES = {
    "I;16": (lambda: encoded(Image.new("I;16", (60, 40), 32768), "PNG"), "JPEG", "RGB", (128, 128, 128)),
    "I": (lambda: encoded(Image.new("I", (60, 40), 40000), "TIFF"), "JPEG", "RGB", (155, 155, 155)),
    "F": (lambda: encoded(Image.new("F", (60, 40), 200.0), "TIFF"), "JPEG", "RGB", (200, 200, 200)),
    "CMYK": (lambda: encoded(Image.new("CMYK", (60, 40), (0, 255, 255, 0)), "TIFF"), "JPEG", "RGB", (255, 0, 0)),
    "P+transparency": (lambda: encoded(palette_with_transparency(), "PNG"), "PNG", "RGBA", (255, 0, 0, 255)),
    "LA": (lambda: encoded(Image.new("LA", (60, 40), (90, 128)), "PNG"), "PNG", "RGBA", (90, 90, 90, 128)),
    "RGBA": (lambda: encoded(Image.new("RGBA", (60, 40), (0, 200, 0, 64)), "PNG"), "PNG", "RGBA", (0, 200, 0, 64)),
    "1": (lambda: encoded(Image.new("1", (60, 40), 1), "PNG"), "JPEG", "RGB", (255, 255, 255)),
}


@pytest.mark.parametrize("mode", sorted(CASES))
def test_every_pixel_mode_becomes_an_8_bit_jpeg_or_a_png_with_alpha(mode: str) -> None:
    make, fmt, out_mode, pixel = CASES[mode]

    copy = vision_copy(make())

    im = shown(copy.data)
    assert (im.format, im.mode, im.size) == (fmt, out_mode, (60, 40))
    assert copy.content_type == {"JPEG": "image/jpeg", "PNG": "image/png"}[fmt]
    got = im.getpixel((10, 10))
    assert isinstance(got, tuple)
    assert all(abs(a - b) <= 3 for a, b in zip(got, pixel, strict=True)), (got, pixel)


def test_transparent_areas_stay_transparent() -> None:
    im = shown(vision_copy(encoded(palette_with_transparency(), "PNG")).data)

    assert im.getpixel((45, 20))[3] == 0


def test_an_alpha_channel_that_is_fully_opaque_is_sent_as_jpeg() -> None:
    copy = vision_copy(encoded(Image.new("RGBA", (60, 40), (10, 20, 30, 255)), "PNG"))

    assert copy.format == "JPEG" and copy.source.has_alpha


def test_a_big_image_is_downscaled_to_the_longest_side_keeping_its_aspect_ratio() -> None:
    big = Image.effect_noise((4000, 3000), 50).convert("RGB")

    copy = vision_copy(encoded(big, "BMP"), max_side=1536)

    assert (copy.width, copy.height) == (1536, 1152) == shown(copy.data).size
    assert (copy.source.format, copy.source.width, copy.source.height) == ("BMP", 4000, 3000)
    assert copy.byte_size < 2 * 1024 * 1024


def test_a_small_image_is_never_enlarged() -> None:
    copy = vision_copy(encoded(Image.new("RGB", (300, 200), "blue"), "PNG"), max_side=1536)

    assert shown(copy.data).size == (300, 200)


def test_the_exif_orientation_is_applied_and_no_metadata_travels() -> None:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6  # displayed rotated 90 degrees: 300x200 stored shows as 200x300
    data = encoded(Image.new("RGB", (300, 200), "green"), "JPEG", exif=exif.tobytes())

    im = shown(vision_copy(data).data)

    assert im.size == (200, 300)
    assert ORIENTATION_TAG not in im.getexif()


def test_an_animated_gif_is_sent_as_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])

    copy = vision_copy(out.getvalue())

    assert copy.source.frames == 2
    px = shown(copy.data).getpixel((20, 20))
    assert isinstance(px, tuple) and px[0] > 200 and px[2] < 60


def test_bytes_that_are_not_an_image_are_refused_with_the_reason() -> None:
    with pytest.raises(ImageInputError, match="not an image") as caught:
        vision_copy(b"%PDF-1.7 not an image")

    assert caught.value.reason == "not_an_image"
