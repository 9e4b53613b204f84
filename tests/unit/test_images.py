"""Specification of offload.media.images.make_variants (responsive variants of an upload) and offload.media.facts.probe.

Every test image is generated here; nothing is read from disk or the network.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms

from offload.errors import NonRetryableError
from offload.media import ImageInputError, VariantSet, make_variants

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# --- image builders ---------------------------------------------------------------------------


def encoded(im: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def halves(size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    """Left half one colour, right half another."""
    im = Image.new(mode, size, left)
    im.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return im


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _s15_16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15_16(x) + _s15_16(y) + _s15_16(z)


def linear_light_rgb_profile() -> bytes:
    """An ICC v2 profile with sRGB's primaries but a linear tone curve: mid-grey 128 is sRGB ~188."""
    text = b"Linear RGB test\0"
    curve = b"curv" + bytes(4) + struct.pack(">I", 0)  # zero points: the identity curve
    tags = [
        (b"desc", b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8 + 3 + 67)),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", _xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", _xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body))
        + bytes(4)
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + _s15_16(0.9642)
        + _s15_16(1.0)
        + _s15_16(0.8249)
        + bytes(48)
    )
    return header + struct.pack(">I", len(tags)) + table + body


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width x height: what a decompression bomb looks like to open()."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(16))) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def landscape() -> VariantSet:
    """A 2400x1600 JPEG made into the default set: 1920, 1024 and 640 in WebP and AVIF, plus a thumbnail."""
    return make_variants(encoded(halves((2400, 1600), RED, BLUE), "JPEG", quality=90))


# --- sizes and formats ------------------------------------------------------------------------


def test_each_width_is_made_with_the_aspect_ratio_kept(landscape: VariantSet) -> None:
    sizes = {(v.width, v.height) for v in landscape.variants}

    assert sizes == {(1920, 1280), (1024, 683), (640, 427)}


def test_each_width_is_made_in_webp_and_in_avif(landscape: VariantSet) -> None:
    for variant in landscape.variants:
        im = decode(variant.data)

        assert im.format == {"webp": "WEBP", "avif": "AVIF"}[variant.format]
        assert im.size == (variant.width, variant.height)
        assert variant.content_type == {"webp": "image/webp", "avif": "image/avif"}[variant.format]
    assert sorted(v.name for v in landscape.variants) == [
        "1024w.avif",
        "1024w.webp",
        "1920w.avif",
        "1920w.webp",
        "640w.avif",
        "640w.webp",
    ]


def test_every_output_has_bytes_and_decodes_to_the_source_colours(landscape: VariantSet) -> None:
    for variant in landscape.all:
        im = decode(variant.data).convert("RGB")

        assert variant.byte_size == len(variant.data) > 0
        assert close_to(im.getpixel((2, im.height // 2)), RED), variant.name
        assert close_to(im.getpixel((im.width - 3, im.height // 2)), BLUE), variant.name


def test_source_facts_are_recorded(landscape: VariantSet) -> None:
    source = landscape.source

    assert (source.format, source.width, source.height, source.mode) == ("JPEG", 2400, 1600, "RGB")
    assert (source.has_alpha, source.frames, source.animated) == (False, 1, False)


def test_widths_wider_than_the_original_are_skipped() -> None:
    result = make_variants(encoded(Image.new("RGB", (1200, 800), RED), "PNG"), thumbnail=None)

    assert sorted({(v.width, v.height) for v in result.variants}) == [(640, 427), (1024, 683)]


def test_an_original_narrower_than_every_width_gives_one_variant_at_its_own_width() -> None:
    result = make_variants(encoded(Image.new("RGB", (300, 200), RED), "PNG"))

    assert {(v.width, v.height, v.format) for v in result.variants} == {(300, 200, "webp"), (300, 200, "avif")}


def test_the_thumbnail_is_a_centred_square_crop_in_webp() -> None:
    # A wide image: red and blue bands at the ends that a centred square crop cuts away, green in the middle.
    im = Image.new("RGB", (1500, 500), GREEN)
    im.paste(RED, (0, 0, 400, 500))
    im.paste(BLUE, (1100, 0, 1500, 500))

    thumb = make_variants(encoded(im, "PNG"), widths=(640,), thumbnail=256).thumbnail

    assert thumb is not None
    decoded = decode(thumb.data)
    assert (decoded.format, decoded.size, thumb.name) == ("WEBP", (256, 256), "thumb-256.webp")
    rgb = decoded.convert("RGB")
    assert close_to(rgb.getpixel((0, 128)), GREEN) and close_to(rgb.getpixel((255, 128)), GREEN)


def test_the_thumbnail_is_never_enlarged() -> None:
    thumb = make_variants(encoded(Image.new("RGB", (200, 120), RED), "PNG"), thumbnail=256).thumbnail

    assert thumb is not None and (thumb.width, thumb.height) == (120, 120)


# --- orientation, colour and pixel modes ------------------------------------------------------


def test_exif_orientation_6_is_applied_to_the_variants() -> None:
    # Stored 800x400, red left / blue right; orientation 6 means "rotate 90° clockwise to display".
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encoded(halves((800, 400), RED, BLUE), "JPEG", quality=95, exif=exif.tobytes())

    result = make_variants(data, widths=(200,), thumbnail=None)

    im = decode(result.get(200, "webp").data).convert("RGB")
    assert im.size == (200, 400)
    assert (result.source.width, result.source.height, result.source.orientation) == (400, 800, 6)
    assert close_to(im.getpixel((100, 10)), RED)  # the left side is now the top
    assert close_to(im.getpixel((100, 389)), BLUE)


def test_alpha_is_kept_in_webp_and_avif() -> None:
    im = halves((400, 200), (255, 0, 0, 255), (0, 0, 255, 0), mode="RGBA")

    result = make_variants(encoded(im, "PNG"), widths=(200,), thumbnail=None)

    assert result.source.has_alpha
    for fmt in ("webp", "avif"):
        out = decode(result.get(200, fmt).data)
        assert out.mode == "RGBA", fmt
        assert out.getpixel((10, 50))[3] > 240, fmt
        assert out.getpixel((190, 50))[3] < 15, fmt


def test_an_opaque_image_stays_without_alpha() -> None:
    result = make_variants(encoded(Image.new("RGB", (200, 100), RED), "PNG"), widths=(100,), thumbnail=None)

    assert decode(result.get(100, "webp").data).mode == "RGB"


def test_a_cmyk_jpeg_becomes_rgb() -> None:
    cyan = Image.new("CMYK", (200, 100), (255, 0, 0, 0))

    result = make_variants(encoded(cyan, "JPEG", quality=95), widths=(100,), thumbnail=None)

    assert result.source.mode == "CMYK"
    out = decode(result.get(100, "webp").data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((50, 25)), (0, 255, 255))


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped() -> None:
    # 32768 of 65535 is mid-grey; Pillow's own I;16 -> RGB conversion would clip it to white.
    grey16 = Image.new("I;16", (200, 100), 32768)

    result = make_variants(encoded(grey16, "PNG"), widths=(100,), thumbnail=None)

    assert result.source.mode.startswith("I")
    assert close_to(decode(result.get(100, "webp").data).convert("RGB").getpixel((50, 25)), (128, 128, 128), 6)


def test_a_palette_gif_becomes_rgb() -> None:
    palette = halves((200, 100), RED, BLUE).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)

    result = make_variants(encoded(palette, "GIF"), widths=(100,), thumbnail=None)

    assert (result.source.format, result.source.mode) == ("GIF", "P")
    out = decode(result.get(100, "avif").data).convert("RGB")
    assert close_to(out.getpixel((5, 25)), RED) and close_to(out.getpixel((94, 25)), BLUE)


def test_a_greyscale_with_alpha_png_becomes_rgba() -> None:
    im = Image.new("LA", (200, 100), (200, 128))

    out = decode(make_variants(encoded(im, "PNG"), widths=(100,), thumbnail=None).get(100, "webp").data)

    assert out.mode == "RGBA" and close_to(out.getpixel((50, 25)), (200, 200, 200, 128), 8)


def test_an_animated_gif_gives_stills_of_its_first_frame_and_records_its_frames() -> None:
    frames = [Image.new("RGB", (200, 100), colour) for colour in (RED, GREEN, BLUE)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    result = make_variants(data, widths=(100,), thumbnail=None)

    assert (result.source.frames, result.source.animated) == (3, True)
    out = decode(result.get(100, "webp").data)
    assert getattr(out, "n_frames", 1) == 1
    assert close_to(out.convert("RGB").getpixel((50, 25)), RED)


def test_an_embedded_icc_profile_is_converted_to_srgb() -> None:
    # 128 in a linear-light profile is much lighter than sRGB 128: about 188 once converted.
    grey = Image.new("RGB", (200, 100), (128, 128, 128))

    result = make_variants(encoded(grey, "PNG", icc_profile=linear_light_rgb_profile()), widths=(100,), thumbnail=None)

    out = decode(result.get(100, "webp").data).convert("RGB")
    assert close_to(out.getpixel((50, 25)), (188, 188, 188), 6)


def test_an_srgb_profile_leaves_the_pixels_alone() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey = Image.new("RGB", (200, 100), (128, 128, 128))

    result = make_variants(encoded(grey, "PNG", icc_profile=srgb), widths=(100,), thumbnail=None)

    assert close_to(decode(result.get(100, "webp").data).convert("RGB").getpixel((50, 25)), (128, 128, 128), 4)


def test_outputs_carry_no_icc_profile_or_exif() -> None:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    data = encoded(
        Image.new("RGB", (200, 100), RED), "JPEG", exif=exif.tobytes(), icc_profile=linear_light_rgb_profile()
    )

    result = make_variants(data, widths=(100,))

    for variant in result.all:
        info = decode(variant.data).info
        assert not info.get("icc_profile") and not info.get("exif"), variant.name


# --- bad input --------------------------------------------------------------------------------


def reject(data: bytes, **options: object) -> ImageInputError:
    with pytest.raises(ImageInputError) as caught:
        make_variants(data, **options)
    return caught.value


def test_bad_input_is_not_retryable() -> None:
    assert issubclass(ImageInputError, NonRetryableError)


def test_zero_bytes_are_rejected_as_empty() -> None:
    error = reject(b"")

    assert error.reason == "empty" and "zero bytes" in str(error)


def test_more_bytes_than_max_bytes_are_rejected_before_decoding() -> None:
    error = reject(b"\0" * 2_000_000, max_bytes=1_000_000)

    assert error.reason == "too_many_bytes"
    assert "1.9 MiB, over the 1.0 MiB limit" in str(error)


def test_a_truncated_jpeg_is_rejected_as_truncated() -> None:
    data = encoded(Image.effect_noise((400, 300), 60).convert("RGB"), "JPEG", quality=90)

    error = reject(data[: len(data) // 2])

    assert error.reason == "truncated" and "truncated" in str(error)


def test_html_is_rejected_as_not_an_image_naming_its_first_bytes() -> None:
    error = reject(b"<html><body>hello</body></html>")

    assert error.reason == "not_an_image"
    assert str(error) == "not an image: cannot identify image file (first bytes 3c 68 74 6d)"


def test_a_format_pillow_knows_but_we_do_not_accept_is_rejected_as_unsupported() -> None:
    error = reject(encoded(Image.new("RGB", (50, 50), RED), "PCX"))

    assert error.reason == "unsupported_format"
    assert "unsupported image format PCX" in str(error) and "JPEG" in str(error)


def test_more_pixels_than_max_pixels_are_rejected_naming_the_size() -> None:
    error = reject(png_header_only(10_000, 6_000))

    assert error.reason == "too_many_pixels"
    assert str(error) == "image is 10000x6000 = 60 MP, over the 50 MP limit"


def test_max_pixels_is_configurable() -> None:
    error = reject(encoded(Image.new("RGB", (200, 100), RED), "PNG"), max_pixels=10_000)

    assert error.reason == "too_many_pixels" and "200x100 = 0.02 MP" in str(error)


def test_a_decompression_bomb_is_rejected_without_decoding() -> None:
    error = reject(png_header_only(60_000, 60_000))

    assert error.reason == "too_many_pixels"
    assert "image is 3600 MP, over the 50 MP limit" in str(error)


def test_pillows_decompression_bomb_warning_is_an_error_even_under_a_higher_max_pixels() -> None:
    error = reject(png_header_only(12_000, 10_000), max_pixels=200_000_000)

    assert error.reason == "too_many_pixels"
    assert "12000x10000 = 120 MP" in str(error) and "decompression-bomb" in str(error)


@pytest.mark.parametrize(
    "options",
    [{"widths": ()}, {"widths": (0,)}, {"formats": ("gif",)}, {"quality": 101}, {"thumbnail": 0}, {"avif_speed": 11}],
)
def test_bad_arguments_are_a_programming_error_not_an_input_error(options: dict[str, object]) -> None:
    with pytest.raises(ValueError) as caught:
        make_variants(encoded(Image.new("RGB", (10, 10)), "PNG"), **options)

    assert not isinstance(caught.value, ImageInputError)


def test_probe_reports_the_source_and_catches_a_truncated_jpeg():
    import io as _io

    from PIL import Image as _Image

    from offload.media.facts import ImageInputError as _Err
    from offload.media.facts import probe

    buf = _io.BytesIO()
    _Image.new("RGB", (1200, 800), (10, 120, 200)).save(buf, "JPEG", quality=90)
    data = buf.getvalue()

    source = probe(data)

    assert (source.format, source.width, source.height) == ("JPEG", 1200, 800)
    with pytest.raises(_Err) as err:
        probe(data[: len(data) // 2])
    assert err.value.reason == "truncated"
