"""Monthly expiry of old reports: every version of every object under reports/ in the payload bucket
older than the retention (cdk.json `offload:reportRetentionDays`).

A job rather than an S3 lifecycle rule: the payload bucket is versioned, so a lifecycle expiration
would only add delete markers (the bytes stay until a noncurrent-version rule runs), the retention
would live in two places, and the local cloud (moto) does not run lifecycle rules at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from offload.packs.maintenance.reports import REPORTS_PREFIX
from offload.packs.maintenance.settings import maintenance_settings

if TYPE_CHECKING:
    from offload.runtime import Runtime


def expire_reports(
    rt: Runtime, now: datetime, *, retention_days: int | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Delete (or, dry, list) the report versions older than the retention; what went."""
    days = retention_days or maintenance_settings(rt).report_retention_days
    cutoff = now - timedelta(days=days)
    s3, bucket = rt.clients.s3, rt.settings.payload_bucket
    old: list[dict[str, str]] = []
    freed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=REPORTS_PREFIX):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if version["LastModified"] <= cutoff:
                old.append({"Key": version["Key"], "VersionId": version["VersionId"]})
                freed += int(version.get("Size", 0))
    if not dry_run:
        for i in range(0, len(old), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": old[i : i + 1000], "Quiet": True})
    keys = sorted({o["Key"] for o in old})
    return {
        "dry_run": dry_run,
        "retention_days": days,
        "versions": len(old),
        "bytes": freed,
        "keys": keys[:50],
    }
