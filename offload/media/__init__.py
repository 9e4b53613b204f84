"""Media processing as pure functions on bytes: no AWS, so it runs the same in Lambda, locally and in tests."""

from offload.media.images import ImageInputError, SourceInfo, Variant, VariantSet, make_variants

__all__ = ["ImageInputError", "SourceInfo", "Variant", "VariantSet", "make_variants"]
