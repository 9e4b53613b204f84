"""What the generic stack hands a pack's construct: the shared resources it builds on.

A pack's `infra` class is called as `cls(stack, "<Pack>Pack", ctx=PackContext(...))` after the
shared resources and queues exist, and before the workers. It may set on itself:
- `settings`: a dict the workers and clients receive as `Settings.packs[<pack name>]`;
- `grant_worker(role, queue)`: what a worker of one of the pack's queues may do with its resources;
- `worker_packs`: names of other packs whose records its workers update: those workers get their settings
  too, and the stack calls each named pack's construct's `grant_records(role)`;
- `worker_layers`: {queue name: layers} that the worker of that (pack's) queue needs beyond the runtime
  layer, and `api_layers`: those the HTTP API function needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from pydantic import BaseModel, ValidationError

from offload.catalog import Catalog, CatalogError, Pack

if TYPE_CHECKING:
    from offload.cdk.constructs.job_queue import JobAccess, JobQueue
    from offload.cdk.constructs.rate_limit_cache import RateLimitCache

M = TypeVar("M", bound=BaseModel)


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
    # The job resources, for a pack function that finishes handed-off jobs (`jobs.grant(role)`).
    jobs: JobAccess | None = None
    # The settings of the packs built before this one (the catalog's order), by pack name.
    built_settings: Mapping[str, Any] = field(default_factory=dict)

    def require_media(self, what: str) -> s3.Bucket:
        """The media bucket, or a CatalogError saying `what` needs the pack's upload triggers kept."""
        if self.media is None:
            raise CatalogError(
                f"pack {self.pack.name!r}: the {what} needs the stack's media bucket, which exists only when the "
                f"catalog has S3 triggers: keep the {self.pack.name} pack's upload triggers"
            )
        return self.media

    def packs_env(self, settings: Mapping[str, Any], *, with_packs: tuple[str, ...] = ()) -> dict[str, str]:
        """OFFLOAD_PACKS for a function of this pack that needs the pack's own settings (and those of the
        packs named in `with_packs`, built before it: see `require_pack`)."""
        chosen = {name: dict(self.require_pack(name)) for name in with_packs}
        return {"OFFLOAD_PACKS": Stack.of(self.topic).to_json_string({**chosen, self.pack.name: dict(settings)})}

    def require_pack(self, name: str) -> Mapping[str, Any]:
        """The settings of pack `name`, or a CatalogError saying this pack builds on it."""
        if name not in self.built_settings:
            raise CatalogError(
                f"pack {self.pack.name!r} builds on the {name!r} pack: compose it into the catalog before "
                f"{self.pack.name!r} (e.g. Catalog.compose(core, ..., {name}, {self.pack.name}))"
            )
        return self.built_settings[name]

    def options_as(self, model: type[M], factory: str) -> M:
        """The pack's options (`Pack.options`) as `model`; a bad one stops synthesis in one line naming
        `factory` (the catalog's `video_pack(...)`-style call) and the model."""
        try:
            return model.model_validate(self.pack.options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            raise CatalogError(
                f"pack {self.pack.name!r}: option {where}: {first['msg']} (got {first.get('input')!r}); fix the "
                f"{factory}(...) arguments in the catalog ({model.__module__}.{model.__name__})"
            ) from None

    def require_jobs(self) -> JobAccess:
        if self.jobs is None:
            raise CatalogError(f"pack {self.pack.name!r}: the stack gave no job resources (JobAccess)")
        return self.jobs
