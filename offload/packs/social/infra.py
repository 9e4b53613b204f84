"""The social pack's resources: the social table (content, follows, feeds, engagement, trending) and grants.

The search index lives in the stack's payload bucket (under the pack's `vector_prefix`), which every worker
may already read, write and list; the social worker may also delete the vectors of deleted content there."""

from __future__ import annotations

from aws_cdk import CfnOutput, CfnResource, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from offload.cdk.constructs.grants import grant_objects
from offload.cdk.constructs.job_queue import _logical_id
from offload.cdk.constructs.pipeline import records_table
from offload.cdk.constructs.table_grants import grant_read_write_items
from offload.cdk.nag import acknowledge
from offload.cdk.pack_context import PackContext
from offload.packs.social.options import SocialOptions


class SocialResources(Construct):
    """The social table (pk/sk, on demand, encrypted, PITR)."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        self.options = ctx.options_as(SocialOptions, "social_pack")
        self.payloads = ctx.require_jobs().bucket
        self.table = records_table(self, "Social", partition_key="pk", sort_key="sk")
        self.settings = {
            "social_table": self.table.table_name,
            "options": self.options.model_dump(mode="json", exclude_unset=True),
        }
        CfnOutput(Stack.of(self), "SocialTableName", value=self.table.table_name)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """The social jobs read and write the social table; `social.search_index` deletes the vectors of
        deleted content (offload/packs/social/search.py)."""
        grant_read_write_items(self.table, role)
        prefix = f"{self.options.vector_prefix}*"
        grant_objects(self.payloads, role, delete=True, prefix=prefix)
        policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
        if isinstance(policy, CfnResource):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.payloads)}.Arn>/{prefix}]",
                "The search index keeps one object per content id, unknown at deploy time; the delete covers the "
                "index's prefix of the payload bucket only.",
            )
