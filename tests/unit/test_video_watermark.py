"""Specification of offload.media.video.watermark: the mark PNG and the ffmpeg overlay filter.

The overlay is checked by ffmpeg itself: the same generated frame with and without the filter,
written losslessly as PNG, must differ inside the watermark's box and nowhere else.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from offload.media.video.ffmpeg import run_ffmpeg
from offload.media.video.plan import Position, WatermarkSpec
from offload.media.video.watermark import overlay_filter, watermark_png

WIDTH, HEIGHT = 320, 180
SOURCE = f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25:duration=0.2,format=yuv420p"
Box = tuple[int, int, int, int]


def frame(tmp_path: Path, name: str, mark: Path | None = None, graph: str | None = None) -> Image.Image:
    """The first frame of the test source, through `graph` with `mark` as input 1 (or through nothing)."""
    args = ["-f", "lavfi", "-i", SOURCE]
    if mark is not None:
        args += ["-i", str(mark)]
    args += ["-filter_complex", graph or "[0:v]null[out]", "-map", "[out]", "-frames:v", "1", str(tmp_path / name)]
    run_ffmpeg(args, what="test frame")
    return Image.open(tmp_path / name).convert("RGB")


def expected_box(spec: WatermarkSpec, mark: Path) -> Box:
    """Where the spec says the mark goes: scale x width wide (even), aspect kept, margin x width from the edges."""
    mark_w, mark_h = Image.open(mark).size
    w = round(spec.scale * WIDTH / 2) * 2
    h = round(w * mark_h / mark_w)
    margin = round(spec.margin * WIDTH)
    x = {"left": margin, "right": WIDTH - w - margin, "center": (WIDTH - w) // 2}
    y = {"top": margin, "bottom": HEIGHT - h - margin, "center": (HEIGHT - h) // 2}
    vertical, _, horizontal = spec.position.partition("-")
    return x[horizontal or vertical], y[vertical], w, h


def changed(before: Image.Image, after: Image.Image, box: Box, *, grow: int = 0) -> tuple[float, int]:
    """(fraction of the box's pixels that changed by more than 24 in some channel, the largest change outside
    the box grown by `grow` px on every side)."""
    x, y, w, h = box
    diff = ImageChops.difference(before, after)
    inside = diff.crop((x, y, x + w, y + h))
    red, green, blue = inside.split()
    moved = sum(ImageChops.lighter(ImageChops.lighter(red, green), blue).histogram()[25:])
    outside = diff.copy()
    outside.paste((0, 0, 0), (x - grow, y - grow, x + w + grow, y + h + grow))
    return moved / (w * h), max(max(band) for band in outside.getextrema())


def logo_bytes() -> bytes:
    """A 200x100 logo: the left half transparent, the right half opaque magenta."""
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((255, 0, 255, 255), (100, 0, 200, 100))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("position", ["bottom-right", "top-left"])
def test_text_watermark_changes_the_frame_inside_its_box_only(tmp_path: Path, position: Position) -> None:
    spec = WatermarkSpec(text="offload", position=position, opacity=1.0)
    mark = watermark_png(spec, tmp_path / "mark.png")

    before = frame(tmp_path, "before.png")
    after = frame(tmp_path, "after.png", mark, overlay_filter(spec, WIDTH, HEIGHT, video="0:v", mark="1:v", out="out"))

    inside, outside = changed(before, after, expected_box(spec, mark), grow=2)
    assert inside > 0.15, f"the text covers part of its box ({inside:.0%} changed)"
    assert outside <= 2, "nothing changes outside the box"


@pytest.mark.parametrize("position", ["top-right", "center"])
def test_logo_watermark_shows_its_opaque_part_at_the_position(tmp_path: Path, position: Position) -> None:
    spec = WatermarkSpec(image_key="logos/acme.png", position=position, opacity=0.8, scale=0.25)
    mark = watermark_png(spec, tmp_path / "mark.png", logo=logo_bytes())
    assert Image.open(mark).size == (200, 100)

    before = frame(tmp_path, "before.png")
    after = frame(tmp_path, "after.png", mark, overlay_filter(spec, WIDTH, HEIGHT, video="0:v", mark="1:v", out="out"))

    x, y, w, h = expected_box(spec, mark)
    opaque_half, outside = changed(before, after, (x + w // 2 + 2, y, w // 2 - 2, h), grow=0)
    assert opaque_half > 0.9, "the opaque half of the logo covers its part of the box"
    transparent_half, _ = changed(before, after, (x, y, w // 2 - 2, h))
    assert transparent_half == 0, "the transparent half leaves the frame as it was"
    _, outside = changed(before, after, (x, y, w, h), grow=2)
    assert outside <= 2, "nothing changes outside the box"
    magenta = after.getpixel((x + 3 * w // 4, y + h // 2))
    assert magenta[0] > 150 and magenta[2] > 150 and magenta[1] < 100


def test_opacity_zero_changes_nothing(tmp_path: Path) -> None:
    spec = WatermarkSpec(text="offload", opacity=0.0)
    mark = watermark_png(spec, tmp_path / "mark.png")

    before = frame(tmp_path, "before.png")
    after = frame(tmp_path, "after.png", mark, overlay_filter(spec, WIDTH, HEIGHT, video="0:v", mark="1:v", out="out"))

    assert max(max(band) for band in ImageChops.difference(before, after).getextrema()) <= 1


def test_half_opacity_blends_the_mark_with_the_frame(tmp_path: Path) -> None:
    opaque, half = WatermarkSpec(image_key="l.png", opacity=1.0), WatermarkSpec(image_key="l.png", opacity=0.5)
    mark = watermark_png(opaque, tmp_path / "mark.png", logo=logo_bytes())
    graph = "[0:v]null[out]"

    before = frame(tmp_path, "before.png", mark, graph)
    full = frame(tmp_path, "full.png", mark, overlay_filter(opaque, WIDTH, HEIGHT, video="0:v", mark="1:v", out="out"))
    blended = frame(tmp_path, "half.png", mark, overlay_filter(half, WIDTH, HEIGHT, video="0:v", mark="1:v", out="out"))

    x, y, w, h = expected_box(opaque, mark)
    point = (x + 3 * w // 4, y + h // 2)
    assert max(abs(a - b) for a, b in zip(full.getpixel(point), before.getpixel(point), strict=True)) > 60
    for channel in range(3):
        mix = (before.getpixel(point)[channel] + full.getpixel(point)[channel]) / 2
        assert blended.getpixel(point)[channel] == pytest.approx(mix, abs=12)


def test_a_tall_logo_is_shrunk_to_fit_inside_the_frame(tmp_path: Path) -> None:
    tall = io.BytesIO()
    Image.new("RGB", (50, 400), (255, 255, 255)).save(tall, format="PNG")
    spec = WatermarkSpec(image_key="tall.png", opacity=1.0)
    mark = watermark_png(spec, tmp_path / "mark.png", logo=tall.getvalue())

    before = frame(tmp_path, "before.png")
    after = frame(tmp_path, "after.png", mark, overlay_filter(spec, WIDTH, HEIGHT, video="0:v", mark="1:v", out="out"))

    box = ImageChops.difference(before, after).convert("L").point(lambda v: 255 if v > 24 else 0).getbbox()
    assert box is not None
    left, top, right, bottom = box
    margin = round(spec.margin * WIDTH)
    assert top >= margin - 1 and bottom <= HEIGHT - margin + 1, "the margins are kept top and bottom"
    assert right == pytest.approx(WIDTH - margin, abs=1)
    assert (right - left) * 8 == pytest.approx(bottom - top, abs=8), "the aspect is kept"


def test_labels_may_be_given_with_or_without_brackets() -> None:
    spec = WatermarkSpec(text="x")

    bare = overlay_filter(spec, 1920, 1080, video="v0", mark="1:v", out="vout")
    bracketed = overlay_filter(spec, 1920, 1080, video="[v0]", mark="[1:v]", out="[vout]")

    assert bare == bracketed
    assert bare.startswith("[1:v]scale=w=346:") and bare.endswith("[vout]") and "[v0][watermark]overlay" in bare


def test_text_is_white_with_a_dark_outline_on_transparent(tmp_path: Path) -> None:
    image = Image.open(watermark_png(WatermarkSpec(text="Hello"), tmp_path / "mark.png"))

    assert (image.format, image.mode) == ("PNG", "RGBA")
    assert image.width > 2 * image.height, "one line of five letters"
    assert image.getpixel((0, 0))[3] == 0, "the corners are transparent"
    colours = {pixel[:3] for pixel in image.get_flattened_data() if pixel[3] == 255}
    assert (255, 255, 255) in colours
    assert any(max(c) < 60 for c in image.convert("RGB").get_flattened_data()), "a dark outline"


def test_a_logo_in_any_pillow_format_becomes_rgba(tmp_path: Path) -> None:
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 32), (10, 200, 30)).save(jpeg, format="JPEG")

    image = Image.open(watermark_png(WatermarkSpec(image_key="l.jpg"), tmp_path / "m.png", logo=jpeg.getvalue()))

    assert (image.mode, image.size) == ("RGBA", (64, 32))
    assert image.getpixel((32, 16))[3] == 255


@pytest.mark.parametrize(
    "fields",
    [{}, {"text": "  "}, {"text": "a", "image_key": "b.png"}],
)
def test_a_spec_that_is_not_exactly_one_mark_is_refused_when_read(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"exactly one of text .* and image_key"):
        WatermarkSpec.model_validate(fields)


@pytest.mark.parametrize(
    ("spec", "logo", "fix"),
    [
        (WatermarkSpec(image_key="b.png"), None, "pass its bytes"),
        (WatermarkSpec(text="a"), b"png", "pass logo only for a spec with image_key"),
    ],
)
def test_logo_bytes_must_match_the_spec(tmp_path: Path, spec: WatermarkSpec, logo: bytes | None, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        watermark_png(spec, tmp_path / "mark.png", logo=logo)
