"""The maintenance pack: the `maintenance` queue, DLQ audits and queue reports, on EventBridge crons."""

from __future__ import annotations

from offload.catalog import JobType, Pack, QueueSpec, Schedule

pack = Pack(
    "maintenance",
    description="Daily DLQ audit and weekly/monthly queue reports (seed 003's crons).",
    queues=(QueueSpec("maintenance", concurrency=2, batch_size=1, timeout_s=900, memory_mb=1024),),
    job_types=(
        JobType(
            "maintenance.dlq_audit",
            queue="maintenance",
            processor="offload.packs.maintenance.jobs:dlq_audit",
            attempts=2,
            description="Count what waits in every DLQ and every failed job; alert the admins if any.",
        ),
        JobType(
            "maintenance.queue_report",
            queue="maintenance",
            processor="offload.packs.maintenance.jobs:queue_report",
            attempts=2,
            description="Write a JSON report of jobs by queue and status to the payload bucket under reports/.",
        ),
    ),
    schedules=(
        Schedule("daily-dlq-audit", "0 2 * * ? *", "maintenance.dlq_audit", description="Daily 02:00 UTC: DLQ audit"),
        Schedule(
            "weekly-queue-report",
            "0 10 ? * MON *",
            "maintenance.queue_report",
            {"period": "week"},
            description="Weekly, Monday 10:00 UTC: queue analytics report",
        ),
        Schedule(
            "monthly-queue-report",
            "0 9 1 * ? *",
            "maintenance.queue_report",
            {"period": "month"},
            description="Monthly, on the 1st at 09:00 UTC: queue analytics report",
        ),
    ),
)
