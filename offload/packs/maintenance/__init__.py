"""The maintenance pack: the `maintenance` queue and seed 003's crons (EventBridge, UTC).

Daily 02:00: DLQ audit, job analytics report, cleanup of leftovers, DynamoDB backups. Weekly, Monday
10:00: the week-over-week performance report. Monthly, on the 1st at 09:00: platform metrics and the
expiry of old reports. `offload schedules list | run NAME` shows and fires them (docs/reports.md).
"""

from __future__ import annotations

from offload.catalog import JobType, Pack, QueueSpec, Schedule

DAILY = "0 2 * * ? *"  # every day at 02:00 UTC
WEEKLY = "0 10 ? * MON *"  # Mondays at 10:00 UTC
MONTHLY = "0 9 1 * ? *"  # the 1st of every month at 09:00 UTC


def _job(name: str, processor: str, description: str, attempts: int = 2) -> JobType:
    return JobType(
        f"maintenance.{name}",
        queue="maintenance",
        processor=f"offload.packs.maintenance.jobs:{processor}",
        attempts=attempts,
        description=description,
    )


pack = Pack(
    "maintenance",
    description="Seed 003's crons: DLQ audit, analytics and platform reports, cleanup, backups, report expiry.",
    queues=(QueueSpec("maintenance", concurrency=2, batch_size=1, timeout_s=900, memory_mb=1024),),
    job_types=(
        _job("dlq_audit", "dlq_audit", "Count what waits in every DLQ and every failed job; alert the admins if any."),
        _job("queue_report", "queue_report", "Write a JSON snapshot of jobs by queue and status under reports/."),
        _job(
            "analytics_daily",
            "analytics_daily",
            "Per type and queue: counts, failure rate, p50/p95, retries, deferrals, top errors (JSON + HTML).",
        ),
        _job(
            "performance_weekly",
            "performance_weekly",
            "This week against last week per type: throughput, failure rate, p95, deltas (JSON + HTML).",
        ),
        _job(
            "platform_monthly",
            "platform_monthly",
            "Jobs, media counts, storage bytes by prefix and top types of a month (JSON + HTML).",
        ),
        _job(
            "cleanup",
            "cleanup",
            "Delete orphaned variants/outputs, abandoned multipart uploads and expired payloads (dry_run lists).",
        ),
        _job("backup", "backup", "On-demand DynamoDB backups of the jobs and packs' tables; old ones deleted."),
        _job("expire_reports", "expire_reports", "Delete reports older than offload:reportRetentionDays."),
    ),
    schedules=(
        Schedule("daily-dlq-audit", DAILY, "maintenance.dlq_audit", description="Daily 02:00 UTC: DLQ audit"),
        Schedule(
            "daily-analytics",
            DAILY,
            "maintenance.analytics_daily",
            description="Daily 02:00 UTC: yesterday's job analytics",
        ),
        Schedule("daily-cleanup", DAILY, "maintenance.cleanup", description="Daily 02:00 UTC: leftovers deleted"),
        Schedule("daily-backup", DAILY, "maintenance.backup", description="Daily 02:00 UTC: DynamoDB backups"),
        Schedule(
            "weekly-performance",
            WEEKLY,
            "maintenance.performance_weekly",
            description="Weekly, Monday 10:00 UTC: week-over-week performance report",
        ),
        Schedule(
            "monthly-platform",
            MONTHLY,
            "maintenance.platform_monthly",
            description="Monthly, on the 1st at 09:00 UTC: platform metrics report",
        ),
        Schedule(
            "monthly-report-expiry",
            MONTHLY,
            "maintenance.expire_reports",
            description="Monthly, on the 1st at 09:00 UTC: old reports deleted",
        ),
    ),
    infra="offload.packs.maintenance.infra:MaintenanceResources",
)
