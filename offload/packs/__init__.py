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
from offload.packs.notifications import notifications_pack
from offload.packs.notifications import pack as notifications
from offload.packs.payments import pack as payments
from offload.packs.payments import payments_pack
from offload.packs.social import pack as social
from offload.packs.social import social_pack
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
    "notifications",
    "notifications_pack",
    "payments",
    "payments_pack",
    "social",
    "social_pack",
    "video",
    "video_pack",
]

# moderation before the media packs (their pipelines' `moderate` steps take its settings); maintenance last:
# its construct backs up and cleans after the packs built before it (their tables, the media bucket).
everything = Catalog.compose(core, moderation, images, video, generate, notifications, payments, social, maintenance)
