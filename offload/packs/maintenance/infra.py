"""The maintenance pack's construct: its settings (what the crons clean, back up and report on) and
the maintenance worker's grants on exactly those resources.

It owns no resource of its own: the reports go to the stack's payload bucket, the backups are
DynamoDB's. It reads the packs built before it (the catalog composes maintenance last), so the
cleanup knows the images and videos tables and the backup every pack's table.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from offload.catalog import CatalogError
from offload.cdk.constructs.grants import bucket_statements
from offload.cdk.constructs.job_queue import _logical_id
from offload.cdk.nag import acknowledge
from offload.cdk.pack_context import PackContext
from offload.packs.maintenance.settings import (
    BACKUP_RETENTION_CONTEXT,
    DEFAULT_BACKUP_RETENTION_DAYS,
    DEFAULT_REPORT_RETENTION_DAYS,
    REPORT_RETENTION_CONTEXT,
)


def _days(scope: Construct, key: str, default: int) -> int:
    value = scope.node.try_get_context(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() or int(value) < 1:
        raise CatalogError(f"{key} in cdk.json must be a whole number of days >= 1, got {value!r}; fix it in cdk.json")
    return int(value)


class MaintenanceResources(Construct):
    """Settings for the maintenance worker and `grant_worker`, its permissions."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        self.ctx = ctx
        built = ctx.built_settings
        self.pack_tables = sorted(
            {str(v) for settings in built.values() for k, v in settings.items() if k.endswith("_table")}
        )
        self.media = ctx.media
        self.settings: dict[str, Any] = {
            "backup_tables": self.pack_tables,
            "backup_retention_days": _days(self, BACKUP_RETENTION_CONTEXT, DEFAULT_BACKUP_RETENTION_DAYS),
            "report_retention_days": _days(self, REPORT_RETENTION_CONTEXT, DEFAULT_REPORT_RETENTION_DAYS),
        }
        if self.media is not None:
            self.settings["media_bucket"] = self.media.bucket_name
        for pack, key in (("images", "images_table"), ("video", "videos_table")):
            if key in built.get(pack, {}):
                self.settings[key] = built[pack][key]

    def _table_arn(self, name: str) -> str:
        return Stack.of(self).format_arn(service="dynamodb", resource="table", resource_name=name)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """Backups of the jobs and packs' tables, the media records and both buckets for the cleanup, every
        queue's counts for the reports."""
        jobs = self.ctx.require_jobs()
        tables = [jobs.table.table_arn, *(self._table_arn(t) for t in self.pack_tables)]
        statements = [
            iam.PolicyStatement(actions=["dynamodb:CreateBackup"], resources=tables),
            # backup.py lists and deletes backups; it never describes one (no DescribeBackup).
            iam.PolicyStatement(actions=["dynamodb:DeleteBackup"], resources=[f"{t}/backup/*" for t in tables]),
            # ListBackups has no resource-level permissions.
            iam.PolicyStatement(actions=["dynamodb:ListBackups"], resources=["*"]),
        ]
        media_tables = [
            self._table_arn(self.settings[k]) for k in ("images_table", "videos_table") if k in self.settings
        ]
        if media_tables:
            statements.append(
                iam.PolicyStatement(actions=["dynamodb:Scan", "dynamodb:DeleteItem"], resources=media_tables)
            )
        # The cleanup (offload/packs/maintenance/cleanup.py) lists, HEADs and deletes every version of an
        # orphan, and aborts stale multipart uploads, in both buckets; the report expiry (expiry.py) deletes the
        # versions of old reports in the payload bucket.
        for bucket in [b for b in (self.media, jobs.bucket) if b is not None]:
            statements += bucket_statements(
                bucket,
                read=True,
                delete=True,
                delete_versions=True,
                abort_uploads=True,
                list_=True,
                list_versions=True,
                list_uploads=True,
            )
        policy = iam.Policy(self, f"Worker{queue.title().replace('-', '')}", statements=statements)
        assert isinstance(role, iam.Role), "pack grants are given to the worker's role"
        policy.attach_to_role(role)
        jobs.grant_queue_counts(role)  # the DLQ audit, the queue and platform reports (admin.queue_stats)
        cfn = policy.node.default_child
        assert isinstance(cfn, CfnResource)
        self.policy = cfn
        self._acknowledge(cfn, jobs.table, jobs.bucket)

    def _acknowledge(self, policy: CfnResource, jobs_table: IConstruct, payloads: IConstruct) -> None:
        """cdk-nag's IAM5 findings on this policy, one by one, each with why it stays."""
        stack = Stack.of(self)
        backups = [f"<{_logical_id(jobs_table)}.Arn>/backup/*"]
        for name in self.pack_tables:
            ref = stack.resolve(name)
            table = ref["Ref"] if isinstance(ref, dict) and "Ref" in ref else name
            backups.append(f"arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/<{table}>/backup/*")
        for resource in backups:
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{resource}]",
                "DeleteBackup names one backed-up table's backups, whose ids DynamoDB makes at run "
                "time; the daily backup job deletes only its own expired ones.",
            )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "dynamodb:ListBackups has no resource-level permissions, so it can only be granted on '*'.",
        )
        if self.media is not None:
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.media)}.Arn>/*]",
                "The cleanup reads and deletes derived objects (variants/, videos/, audio/) of the media bucket "
                "whose keys come from upload keys at run time; the grant covers that bucket's objects only.",
            )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(payloads)}.Arn>/*]",
            "The cleanup and the report expiry delete expired payloads (jobs/<job id>/...) and reports of the "
            "payload bucket, keyed at run time, and abort its stale uploads; the grant covers its objects only.",
        )
