"""Maintenance jobs run by the schedules: DLQ audits, queue and analytics reports, cleanup, backups, expiry.

Each processor validates its data, then calls the module that does the work (reports, cleanup, backup,
expiry), so the CLI, the console and the tests run exactly what the schedules run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from offload.jobs.admin import queue_stats
from offload.jobs.context import JobContext
from offload.observability import logger


class AuditData(BaseModel):
    alert: bool = True


def dlq_audit(data: AuditData, ctx: JobContext) -> dict[str, Any]:
    """Per queue: messages in the DLQ and failed jobs on record; alert when anything waits."""
    rows = queue_stats(ctx.runtime)
    findings = {r["queue"]: {"dlq": r["messages"]["dlq"], "failed_jobs": r["failed"]} for r in rows}
    waiting = {q: f for q, f in findings.items() if f["dlq"] or f["failed_jobs"]}
    if waiting and data.alert:
        lines = [f"{q}: {f['dlq']} message(s) in the DLQ, {f['failed_jobs']} failed job(s)" for q, f in waiting.items()]
        ctx.runtime.clients.sns.publish(
            TopicArn=ctx.runtime.settings.alert_topic_arn,
            Subject="offload: dead letters waiting",
            Message="\n".join(lines)
            + "\n\nInspect: offload jobs list --status failed\nRedrive: offload queues redrive Q",
        )
        logger.warning("DLQ audit found dead letters", queues=sorted(waiting))
    return {"queues": findings, "alerted": bool(waiting and data.alert)}


class ReportData(BaseModel):
    period: Literal["day", "week", "month"] = "day"


def queue_report(data: ReportData, ctx: JobContext) -> dict[str, Any]:
    """Snapshot of jobs by queue and status, written to reports/queues/<period>/<timestamp>.json."""
    import json

    now = datetime.now(UTC)
    rows = queue_stats(ctx.runtime)
    key = f"reports/queues/{data.period}/{now.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    body = {"generated_at": now.isoformat(), "period": data.period, "queues": rows}
    ctx.runtime.clients.s3.put_object(
        Bucket=ctx.runtime.settings.payload_bucket,
        Key=key,
        Body=json.dumps(body, indent=2).encode(),
        ContentType="application/json",
    )
    totals = {k: sum(r[k] for r in rows) for k in ("waiting", "active", "delayed", "failed", "completed")}
    return {"key": key, "totals": totals}


def _today() -> date:
    return datetime.now(UTC).date()


class DailyData(BaseModel):
    day: date | None = Field(default=None, description="the UTC day to report (default: yesterday)")

    @field_validator("day")
    @classmethod
    def _not_future(cls, value: date | None) -> date | None:
        if value is not None and value > _today():
            raise ValueError(f"day {value} is in the future; pass a past UTC day (YYYY-MM-DD) or leave it out")
        return value


def analytics_daily(data: DailyData, ctx: JobContext) -> dict[str, Any]:
    """Job analytics of one UTC day, written to reports/analytics/daily/<date>.{json,html}."""
    from offload.packs.maintenance.reports import write_daily

    now = datetime.now(UTC)
    return write_daily(ctx.runtime, data.day or (now.date() - timedelta(days=1)), now)


class WeeklyData(BaseModel):
    week_start: date | None = Field(default=None, description="the Monday the week starts (default: last week's)")

    @field_validator("week_start")
    @classmethod
    def _a_monday(cls, value: date | None) -> date | None:
        if value is not None and value.isoweekday() != 1:
            monday = value - timedelta(days=value.isoweekday() - 1)
            raise ValueError(f"week_start {value} is a {value:%A}; weeks start on Monday (e.g. {monday})")
        return value


def performance_weekly(data: WeeklyData, ctx: JobContext) -> dict[str, Any]:
    """This week against last week per type, written to reports/analytics/weekly/<YYYY-Www>.{json,html}."""
    from offload.packs.maintenance.reports import write_weekly

    now = datetime.now(UTC)
    this_monday = now.date() - timedelta(days=now.isoweekday() - 1)
    return write_weekly(ctx.runtime, data.week_start or (this_monday - timedelta(days=7)), now)


class MonthlyData(BaseModel):
    month: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (default: last)")


def platform_monthly(data: MonthlyData, ctx: JobContext) -> dict[str, Any]:
    """Platform metrics of one month, written to reports/platform/monthly/<YYYY-MM>.{json,html}."""
    from offload.packs.maintenance.reports import write_monthly

    now = datetime.now(UTC)
    last_month = (now.date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return write_monthly(ctx.runtime, data.month or last_month, now)


class CleanupData(BaseModel):
    dry_run: bool = False
    min_age_hours: float = Field(default=24, ge=0, description="leave anything younger than this alone")
    upload_max_age_hours: float = Field(default=24, ge=0, description="abort multipart uploads older than this")


def cleanup(data: CleanupData, ctx: JobContext) -> dict[str, Any]:
    """Delete orphaned variants and outputs, abandoned multipart uploads and expired payloads."""
    from offload.packs.maintenance.cleanup import Cleanup

    return Cleanup(
        ctx.runtime,
        datetime.now(UTC),
        dry_run=data.dry_run,
        min_age=timedelta(hours=data.min_age_hours),
        upload_max_age=timedelta(hours=data.upload_max_age_hours),
    ).run()


class BackupData(BaseModel):
    retention_days: int | None = Field(default=None, ge=1, description="default: offload:backupRetentionDays")


def backup(data: BackupData, ctx: JobContext) -> dict[str, Any]:
    """On-demand backups of the jobs table and the packs' tables; old ones of this job deleted."""
    from offload.packs.maintenance.backup import backup_tables

    return backup_tables(ctx.runtime, datetime.now(UTC), retention_days=data.retention_days)


class ExpiryData(BaseModel):
    retention_days: int | None = Field(default=None, ge=1, description="default: offload:reportRetentionDays")
    dry_run: bool = False


def expire_reports(data: ExpiryData, ctx: JobContext) -> dict[str, Any]:
    """Delete reports older than the retention (every version)."""
    from offload.packs.maintenance import expiry

    return expiry.expire_reports(
        ctx.runtime, datetime.now(UTC), retention_days=data.retention_days, dry_run=data.dry_run
    )
