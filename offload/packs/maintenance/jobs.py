"""Maintenance jobs run by the schedules: DLQ audits and queue reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

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
