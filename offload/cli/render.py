"""How the CLI shows jobs, job types and queues: rich for people, stable JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from offload.catalog import Catalog
from offload.jobs.admin import RedriveReport
from offload.jobs.model import Job, JobStatus

STATUS_STYLE = {
    JobStatus.QUEUED: "cyan",
    JobStatus.DELAYED: "yellow",
    JobStatus.ACTIVE: "blue",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "magenta",
}
# The panel shows this much of a result; --json shows all of it.
RESULT_PREVIEW_CHARS = 2000
REASON_CHARS = 60
HISTORY_REASON_CHARS = 200

stdout = Console(highlight=False)


def emit_json(value: Any) -> None:
    """Print JSON for scripts: indented, nothing else on stdout."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def status_text(status: JobStatus) -> Text:
    """The status word in its colour."""
    return Text(status.value, style=f"bold {STATUS_STYLE[status]}")


def when(iso: str | None, now: datetime | None = None) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM:SS UTC (12 s ago)`."""
    if not iso:
        return "-"
    at = datetime.fromisoformat(iso)
    age = ((now or datetime.now(UTC)) - at).total_seconds()
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({_ago(age)})"


def _ago(seconds: float) -> str:
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def job_panel(job: Job) -> Panel:
    """Everything an operator asks about one job, in a panel coloured by its status."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    status: RenderableType = status_text(job.status)
    if job.cancel_requested and not job.status.terminal:
        status = Text.assemble(status_text(job.status), " (cancel requested)")
    grid.add_row("status", status)
    grid.add_row("type", job.type)
    grid.add_row("queue", job.queue)
    grid.add_row("progress", f"{job.progress}%")
    grid.add_row("attempts", f"{job.attempts} of {job.max_attempts}")
    if job.error is not None:
        label = "error" if job.status == JobStatus.FAILED else "last error"
        grid.add_row(label, Text(f"{job.error.step}: {job.error.reason}", style="red"))
    if job.history:
        lines = [
            f"attempt {h.attempt} {when(h.at) if h.at else ''}: {h.step}: {_shorten(h.reason, HISTORY_REASON_CHARS)}"
            for h in job.history
        ]
        grid.add_row(f"history ({len(lines)})", Text("\n".join(lines), style="dim"))
    if job.result is not None:
        grid.add_row("result", _preview(job.result))
    grid.add_row("created", when(job.created_at))
    if job.started_at:
        grid.add_row("started", when(job.started_at))
    if job.finished_at:
        grid.add_row("finished", when(job.finished_at))
    if job.idempotency_key:
        grid.add_row("idempotency key", job.idempotency_key)
    if job.webhook_url:
        grid.add_row("webhook", job.webhook_url)
    return Panel(grid, title=f"job {job.job_id}", title_align="left", border_style=STATUS_STYLE[job.status])


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _preview(result: Any) -> RenderableType:
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if len(text) <= RESULT_PREVIEW_CHARS:
        return Text(text)
    return Group(Text(text[:RESULT_PREVIEW_CHARS]), Text(f"... {len(text)} characters; --json shows all", style="dim"))


def jobs_table(jobs: list[Job]) -> Table:
    """One row per job: id, type, queue, status, attempts, error reason, created."""
    table = Table(title=f"{len(jobs)} job(s)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("id", "type", "queue", "status", "attempts", "error", "created"):
        table.add_column(name, no_wrap=name in ("id", "status"))
    for job in jobs:
        reason = job.error.reason if job.error else ""
        if len(reason) > REASON_CHARS:
            reason = reason[: REASON_CHARS - 1] + "…"
        table.add_row(
            job.job_id,
            job.type,
            job.queue,
            status_text(job.status),
            f"{job.attempts}/{job.max_attempts}",
            Text(reason, style="red"),
            _ago((datetime.now(UTC) - datetime.fromisoformat(job.created_at)).total_seconds()),
        )
    return table


def job_types(catalog: Catalog) -> list[dict[str, Any]]:
    """The catalog's job types with their resolved policy (type overrides, else queue defaults)."""
    rows = []
    for jt in catalog.job_types:
        policy = catalog.policy(jt.name)
        rows.append(
            {
                "name": jt.name,
                "queue": jt.queue,
                "attempts": policy.attempts,
                "backoff": policy.backoff.as_dict(),
                "timeout_s": policy.timeout_s,
                "priority": jt.priority,
                "description": jt.description,
            }
        )
    return rows


def job_types_table(rows: list[dict[str, Any]]) -> Table:
    """The rows of `job_types` as a table."""
    table = Table(title="job types", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("name", "queue", "attempts", "backoff", "timeout", "description"):
        table.add_column(name, no_wrap=name in ("name", "backoff"))
    for row in rows:
        b = row["backoff"]
        backoff = f"fixed {b['delay_s']:g}s" if b["kind"] == "fixed" else f"exp {b['delay_s']:g}-{b['max_delay_s']:g}s"
        table.add_row(
            row["name"], row["queue"], str(row["attempts"]), backoff, f"{row['timeout_s']}s", row["description"]
        )
    return table


def queue_stats_table(rows: list[dict[str, Any]]) -> Table:
    """Jobs by status and SQS message counts, one row per deployed queue."""
    table = Table(title="queues", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    job_columns = ("waiting", "active", "delayed", "failed", "completed", "cancelled")
    table.add_column("queue", no_wrap=True)
    for name in job_columns:
        table.add_column(name, justify="right")
    for name in ("visible", "in flight", "DLQ"):
        table.add_column(name, justify="right", header_style="bold dim")
    for row in rows:
        messages = row["messages"]
        table.add_row(
            row["queue"],
            *(Text(str(row[c]), style="red" if c == "failed" and row[c] else "") for c in job_columns),
            str(messages["visible"]),
            str(messages["in_flight"]),
            Text(str(messages["dlq"]), style="bold red" if messages["dlq"] else ""),
        )
    table.caption = "jobs by status (table) | messages (SQS)"
    return table


def redrive_json(report: RedriveReport) -> dict[str, Any]:
    """A redrive report with stable keys."""
    return {"queue": report.queue, "moved": report.moved, "resent_foreign": report.resent_foreign, "left": report.left}


def redrive_lines(report: RedriveReport) -> list[Text]:
    """What a redrive did, one line per fact, then one per message left behind."""
    lines = [
        Text(f"moved {len(report.moved)} job(s) from the DLQ back to {report.queue!r}", style="green"),
        Text(f"resent {report.resent_foreign} foreign message(s)"),
    ]
    if report.left:
        lines.append(Text(f"left {len(report.left)} message(s) in the DLQ:", style="yellow"))
        lines.extend(Text(f"  {reason}", style="yellow") for reason in report.left)
    else:
        lines.append(Text("nothing left in the DLQ that this redrive read"))
    return lines
