"""Daily DynamoDB backups: an on-demand backup of the jobs table and every pack's table, and the
deletion of this job's own backups older than the retention (cdk.json `offload:backupRetentionDays`).

On-demand backups (not exports to S3): they need no point-in-time recovery on the jobs table, restore
into a new table with one call, and moto runs them, so the local cloud does exactly what AWS does.
Only backups this job made (named `<table>-offload-<timestamp>`) are ever deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from offload.packs.maintenance.settings import maintenance_settings

if TYPE_CHECKING:
    from offload.runtime import Runtime

BACKUP_MARK = "-offload-"


def backup_name(table: str, now: datetime) -> str:
    """The backup's name: the table, this job's mark and the time (DynamoDB allows [A-Za-z0-9_.-], 255)."""
    return f"{table}{BACKUP_MARK}{now.strftime('%Y%m%dT%H%M%SZ')}"[-255:]


def backup_tables(rt: Runtime, now: datetime, *, retention_days: int | None = None) -> dict[str, Any]:
    """Back up each table now, then delete this job's backups of it older than the retention."""
    ms = maintenance_settings(rt)
    days = retention_days or ms.backup_retention_days
    db = rt.clients.dynamodb
    created, deleted = [], []
    for table in dict.fromkeys([rt.settings.table, *ms.backup_tables]):
        arn = db.create_backup(TableName=table, BackupName=backup_name(table, now))["BackupDetails"]["BackupArn"]
        created.append({"table": table, "backup_arn": arn})
        cutoff = now - timedelta(days=days)
        kwargs: dict[str, Any] = {"TableName": table, "BackupType": "USER", "TimeRangeUpperBound": cutoff}
        while True:
            page = db.list_backups(**kwargs)
            for summary in page.get("BackupSummaries", []):
                # The filters again here: moto (the local cloud) ignores TimeRangeUpperBound.
                if (
                    summary["BackupArn"] != arn
                    and summary["BackupName"].startswith(f"{table}{BACKUP_MARK}")
                    and summary["BackupCreationDateTime"] <= cutoff
                ):
                    db.delete_backup(BackupArn=summary["BackupArn"])
                    deleted.append({"table": table, "backup": summary["BackupName"]})
            if "LastEvaluatedBackupArn" not in page:
                break
            kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    return {"created": created, "deleted": deleted, "retention_days": days}
