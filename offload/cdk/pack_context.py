"""What the generic stack hands a pack's construct: the shared resources it builds on.

A pack's `infra` class is called as `cls(stack, "<Pack>Pack", ctx=PackContext(...))` after the
shared resources and queues exist, and before the workers. It may set on itself:
- `settings`: a dict the workers and clients receive as `Settings.packs[<pack name>]`;
- `grant_worker(role, queue)`: what a worker of one of the pack's queues may do with its resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from offload.catalog import Catalog, CatalogError, Pack

if TYPE_CHECKING:
    from offload.cdk.constructs.job_queue import JobQueue
    from offload.cdk.constructs.rate_limit_cache import RateLimitCache


@dataclass(frozen=True)
class PackContext:
    """The catalog and pack, the queues by catalog name, what every function shares, and the media bucket."""

    catalog: Catalog
    pack: Pack
    queues: Mapping[str, JobQueue]
    code: lambda_.Code
    layers: list[lambda_.ILayerVersion]
    environment: Mapping[str, str]
    log_level: lambda_.ApplicationLogLevel
    topic: sns.ITopic
    access_logs: s3.IBucket
    cache: RateLimitCache | None
    config: Any  # the stack's OffloadConfig
    # The media bucket (offload.cdk.constructs.media_bucket), when the catalog has any S3 trigger.
    media: s3.Bucket | None = None

    def require_media(self, what: str) -> s3.Bucket:
        """The media bucket, or a CatalogError saying `what` needs the pack's upload triggers kept."""
        if self.media is None:
            raise CatalogError(
                f"pack {self.pack.name!r}: the {what} needs the stack's media bucket, which exists only when the "
                f"catalog has S3 triggers: keep the {self.pack.name} pack's upload triggers"
            )
        return self.media

    def packs_env(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """OFFLOAD_PACKS for a function of this pack that needs the pack's own settings."""
        return {"OFFLOAD_PACKS": Stack.of(self.topic).to_json_string({self.pack.name: dict(settings)})}
