"""Bring a decoded image to 8-bit sRGB, RGB or RGBA: the only modes the variant encoders see."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageCms

from offload.media.facts import has_alpha

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# The image mode each ICC colour space transforms from (ICC signatures are four bytes, space padded).
_MODE_FOR_ICC_SPACE = {"RGB": "RGB", "CMYK": "CMYK", "GRAY": "L"}
# The decoded modes each of those can describe (palette images are converted first).
_MODES_FOR_PROFILE_MODE = {
    "RGB": frozenset({"RGB", "RGBA", "RGBa", "P", "PA", "YCbCr"}),
    "CMYK": frozenset({"CMYK"}),
    "L": frozenset({"L", "LA", "La", "P", "PA"}),
}


class UnsupportedModeError(ValueError):
    """The image's pixel mode has no conversion to RGB."""


def to_srgb(im: Image.Image) -> Image.Image:
    """Convert to RGB (or RGBA when the image has alpha) in sRGB, with no metadata left in `info`.

    An embedded ICC profile is applied (perceptual intent) unless it already is sRGB; a profile
    that is broken or does not fit the pixels is ignored, like browsers do.
    """
    alpha = has_alpha(im)
    target = "RGBA" if alpha else "RGB"
    icc = im.info.get("icc_profile")
    im = _to_eight_bit(im)
    out = None
    if icc and not _is_srgb(icc):
        out = _apply_profile(im, icc, target)
    if out is None:
        out = im if im.mode == target else im.convert(target)
    # Nothing from the source travels on: EXIF (GPS), XMP, comments, the profile just applied.
    out.info = {}
    return out


def _to_eight_bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit greyscale scaled to L (Pillow's own conversion clips at 255); 1 and F to L."""
    if im.mode in _SIXTEEN_BIT_MODES:
        as_int = im if im.mode == "I" else im.convert("I")
        high = as_int.getextrema()[1]
        # "I" is also used for 8-bit data (e.g. some TIFFs): only rescale what exceeds 8 bits.
        scale = 255 / 65535 if isinstance(high, int | float) and high > 255 else 1.0
        return as_int.point(lambda v: v * scale).convert("L")
    if im.mode in ("1", "F"):
        return im.convert("L")
    if im.mode not in ("L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "La", "CMYK", "YCbCr"):
        raise UnsupportedModeError(f"pixel mode {im.mode} cannot be converted to RGB")
    return im


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _is_srgb(icc: bytes) -> bool:
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return False
    return "srgb" in description.lower()


def _apply_profile(im: Image.Image, icc: bytes, target: str) -> Image.Image | None:
    """The image transformed from its embedded profile to sRGB, or None if the profile can't be used."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        in_mode = _MODE_FOR_ICC_SPACE.get(source.profile.xcolor_space.strip())
        if in_mode is None or im.mode not in _MODES_FOR_PROFILE_MODE[in_mode]:
            return None  # e.g. an RGB profile on a greyscale image: it does not describe these pixels
        alpha = None
        if target == "RGBA":
            if in_mode == "RGB":
                in_mode = "RGBA"  # littlecms carries the alpha channel through
            else:
                alpha = (im if im.mode == "LA" else im.convert("RGBA")).getchannel("A")
        if im.mode != in_mode:
            im = im.convert(in_mode)
        transform = ImageCms.buildTransform(
            source, _srgb_profile(), in_mode, target if alpha is None else "RGB", ImageCms.Intent.PERCEPTUAL
        )
        out = ImageCms.applyTransform(im, transform)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    if out is not None and alpha is not None:
        out.putalpha(alpha)
    return out
