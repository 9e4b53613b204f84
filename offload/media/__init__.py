"""Media processing as pure functions on bytes: no AWS, so it runs the same in Lambda, locally and in tests."""

from offload.media.facts import ImageInputError, SourceInfo, probe
from offload.media.images import EncodedImage, Variant, VariantSet, make_variants, normalise, vision_copy

__all__ = [
    "EncodedImage",
    "ImageInputError",
    "SourceInfo",
    "Variant",
    "VariantSet",
    "make_variants",
    "normalise",
    "probe",
    "vision_copy",
]
