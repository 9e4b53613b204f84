"""The built-in packs, and `everything`: the catalog of this repository's own app (every pack).

An app composes the packs it uses with its own in its own package:

    from offload.catalog import Catalog
    from offload.packs import core, images
    catalog = Catalog.compose(core, images, mine)

and names it in cdk.json (`"offload:catalog": "myapp.jobs:catalog"`).
"""

from __future__ import annotations

from offload.catalog import Catalog
from offload.packs.core import pack as core
from offload.packs.generate import generate_pack
from offload.packs.generate import pack as generate
from offload.packs.images import pack as images
from offload.packs.maintenance import pack as maintenance
from offload.packs.moderation import moderation_pack
from offload.packs.moderation import pack as moderation
from offload.packs.video import pack as video
from offload.packs.video import video_pack

__all__ = [
    "core",
    "everything",
    "generate",
    "generate_pack",
    "images",
    "maintenance",
    "moderation",
    "moderation_pack",
    "video",
    "video_pack",
]

# Moderation before the media packs: their pipelines' `moderate` steps take its settings.
everything = Catalog.compose(core, maintenance, moderation, images, video, generate)
