"""Creator watermarks: a text rendered with Pillow (a static ffmpeg may lack drawtext) or a logo
image, overlaid by ffmpeg with the spec's position, opacity, margin and scale.

Pure (no S3): the pipeline step reads the logo (`spec.image_key`) and passes its bytes.
`watermark_png` makes the mark at full opacity, larger than it will be shown (text at 128 px);
`overlay_filter` scales it to the frame, applies the opacity and places it. Feed the PNG to ffmpeg
as a plain input (no `-loop`): overlay repeats the last frame of its second input
(`eof_action=repeat`), so the scale and opacity filters run once, not on every frame.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from offload.media.colour import to_srgb
from offload.media.facts import load_first_frame, open_image
from offload.media.video.plan import WatermarkSpec

TEXT_SIZE_PX = 128  # rendered large and scaled down by ffmpeg, so it stays sharp up to 4K
TEXT_FILL = (255, 255, 255, 255)
OUTLINE_FILL = (0, 0, 0, 200)
SHADOW_FILL = (0, 0, 0, 140)


def check_spec(spec: WatermarkSpec, *, logo: bytes | None = None) -> None:
    """Refuse logo bytes that don't match the spec (WatermarkSpec itself ensures exactly one of text and logo)."""
    if spec.text and logo is not None:
        raise ValueError("watermark is a text, yet logo bytes were given: pass logo only for a spec with image_key")
    if spec.image_key and logo is None:
        raise ValueError(f"watermark image_key {spec.image_key!r}: read the logo from the bucket and pass its bytes")


def watermark_png(spec: WatermarkSpec, out: Path, *, logo: bytes | None = None) -> Path:
    """The watermark as an RGBA PNG at full opacity: the text rendered, or the logo (`logo` bytes) decoded.

    Text is white with a dark outline and soft shadow, so it reads on light and dark frames. A logo
    may be any image Pillow reads (the image pack's limits and checks apply: ImageInputError)."""
    check_spec(spec, logo=logo)
    mark = _render_text(str(spec.text)) if logo is None else _decode_logo(logo)
    out.parent.mkdir(parents=True, exist_ok=True)
    mark.save(out, format="PNG")
    return out


def overlay_filter(spec: WatermarkSpec, frame_width: int, frame_height: int, *, video: str, mark: str, out: str) -> str:
    """An ffmpeg filtergraph fragment: scale the PNG input `[mark]` to spec.scale of the frame width,
    apply spec.opacity, overlay on `[video]` at spec.position with spec.margin; the result is `[out]`.

    Labels may be given with or without brackets ("1:v" or "[1:v]"). The mark is round(scale x width)
    wide (even), its aspect kept, shrunk further if it would be taller than the frame less the
    margins; the margin is round(margin x width) px from the nearest edges (both axes)."""
    if frame_width < 2 or frame_height < 2:
        raise ValueError(f"overlay: frame {frame_width}x{frame_height} is too small")
    video, mark, out = (f"[{label.strip().strip('[]')}]" for label in (video, mark, out))
    margin = round(spec.margin * frame_width)
    width = max(2, min(frame_width, round(spec.scale * frame_width / 2) * 2))
    height = max(2, (frame_height - 2 * margin) // 2 * 2)
    x = {"left": f"{margin}", "right": f"main_w-overlay_w-{margin}", "center": "(main_w-overlay_w)/2"}
    y = {"top": f"{margin}", "bottom": f"main_h-overlay_h-{margin}", "center": "(main_h-overlay_h)/2"}
    vertical, _, horizontal = spec.position.partition("-")
    horizontal = horizontal or vertical  # "center"
    return (
        f"{mark}scale=w={width}:h={height}:force_original_aspect_ratio=decrease:force_divisible_by=2"
        f",format=rgba,colorchannelmixer=aa={spec.opacity:.3f}[watermark];"
        f"{video}[watermark]overlay=x={x[horizontal]}:y={y[vertical]}:format=auto{out}"
    )


def _render_text(text: str) -> Image.Image:
    """White text with an outline and a shadow, on transparent, cropped to the ink plus the shadow."""
    font = ImageFont.load_default(size=TEXT_SIZE_PX)  # Pillow's scalable built-in font (needs FreeType)
    stroke = max(2, TEXT_SIZE_PX // 20)
    shadow = max(2, TEXT_SIZE_PX // 24)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=font, stroke_width=stroke, align="center")
    pad = stroke + 2 * shadow
    size = (int(right - left) + 2 * pad + shadow, int(bottom - top) + 2 * pad + shadow)
    origin = (pad - left, pad - top)
    drop = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(drop).multiline_text(
        (origin[0] + shadow, origin[1] + shadow),
        text,
        font=font,
        fill=SHADOW_FILL,
        stroke_width=stroke,
        stroke_fill=SHADOW_FILL,
        align="center",
    )
    image = drop.filter(ImageFilter.GaussianBlur(shadow))
    ImageDraw.Draw(image).multiline_text(
        origin, text, font=font, fill=TEXT_FILL, stroke_width=stroke, stroke_fill=OUTLINE_FILL, align="center"
    )
    if not isinstance(font, ImageFont.FreeTypeFont):  # no FreeType: a small bitmap font, scale it up
        factor = TEXT_SIZE_PX / 11
        image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.NEAREST)
    return image


def _decode_logo(data: bytes) -> Image.Image:
    """The logo's first frame, upright (EXIF orientation), as 8-bit sRGB RGBA."""
    image = open_image(data)
    load_first_frame(image)
    return to_srgb(ImageOps.exif_transpose(image)).convert("RGBA")
