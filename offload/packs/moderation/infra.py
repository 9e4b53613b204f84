"""The moderation pack's resources: the moderation table, and what its workers may do.

The image and video pipelines add their own `moderate` step when this pack is in the catalog
(offload/packs/images/infra.py, offload/packs/video/infra.py): compose it before them, so its
settings (the table, the thresholds) reach their step functions.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from offload.cdk.constructs.ffmpeg_layer import FfmpegLayer
from offload.cdk.constructs.grants import grant_objects, grant_secret_values
from offload.cdk.constructs.pipeline import acknowledge_media_objects, records_table
from offload.cdk.constructs.table_grants import grant_read_write_items
from offload.cdk.pack_context import PackContext
from offload.packs.moderation import MEDIA_PACKS, PACK
from offload.packs.moderation.options import ModerationOptions


class ModerationTable(Construct):
    """The moderation table; the workers' grants (table, media reads, AI key) and PyAV for moderate.video."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        self.options = ctx.options_as(ModerationOptions, "moderation_pack")
        self.table = records_table(self, "Moderation")
        self.media = ctx.media
        self.topic = ctx.topic
        self.ai_key_secret_arn = ctx.config.ai_key_secret_arn
        self.settings: dict[str, object] = {
            "moderation_table": self.table.table_name,
            "options": self.options.model_dump(mode="json", exclude_unset=True),
        }
        if self.media is not None:
            self.settings["media_bucket"] = self.media.bucket_name
        if self.ai_key_secret_arn:
            self.settings["ai_key_secret_arn"] = self.ai_key_secret_arn
        # The media packs whose records a moderation worker marks (their settings and `grant_records`).
        in_catalog = {p.name for p in ctx.catalog.packs}
        self.worker_packs = tuple(p for p in MEDIA_PACKS.values() if p in in_catalog)
        # moderate.video samples frames with PyAV, which ships in the ffmpeg layer.
        self.worker_layers: dict[str, list[lambda_.ILayerVersion]] = {"moderation": [FfmpegLayer.of(self).layer]}
        CfnOutput(Stack.of(self), "ModerationTableName", value=self.table.table_name)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """Read and write moderation records, read uploads, read the AI key, alert the admins."""
        grant_read_write_items(self.table, role)
        self.topic.grant_publish(role)
        if self.media is not None:
            # The exact version the job names; a missing upload is a NoSuchKey (a NonRetryableError saying so).
            grant_objects(self.media, role, read=True, read_versions=True, list_=True)
            acknowledge_media_objects(
                role,
                self.media,
                "moderate.image and moderate.video read the upload a job names, keyed at run time; the grant "
                "covers objects in the media bucket only.",
            )
        if self.ai_key_secret_arn:
            grant_secret_values(role, [self.ai_key_secret_arn])

    def grant_step(self, role: iam.IGrantable) -> None:
        """What a media pipeline's `moderate` step does here: write moderation records."""
        grant_read_write_items(self.table, role)


def moderation_packs(ctx: PackContext) -> tuple[str, ...]:
    """("moderation",) when the catalog has the moderation pack, for `ctx.packs_env(with_packs=...)`; else ()."""
    return (PACK,) if ctx.catalog.pack(PACK) is not None else ()


def grant_moderation_step(scope: Construct, ctx: PackContext, function: lambda_.Function) -> None:
    """Let a media pipeline's step function write moderation records (the table named in the pack's settings)."""
    name = ctx.require_pack(PACK)["moderation_table"]
    grant_read_write_items(dynamodb.Table.from_table_name(scope, "ModerationRecords", name), function)
