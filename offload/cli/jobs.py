"""`offload jobs ...`: add, inspect, list, cancel and retry jobs; list the catalog's job types."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from offload.cli import render
from offload.cli.errors import fail, stderr
from offload.cli.resources import local_catalog, runtime_of
from offload.cli.watch import watch_job
from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.model import InvalidJobIdError, JobStatus, check_job_id

app = typer.Typer(help="Add, inspect, list, cancel and retry jobs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON with stable keys (for scripts).")]


def check_queue(value: str | None) -> str | None:
    """A catalog queue name (click callback), or a usage error listing the queues."""
    catalog = local_catalog()
    names = [q.name for q in catalog.queues] if catalog else []
    if value is not None and catalog is not None and value not in names:
        raise typer.BadParameter(f"unknown queue {value!r}; queues: {', '.join(names)}")
    return value


def check_job_id_param(value: str) -> str:
    """A job id argument (click callback), or a usage error saying what is wrong with it."""
    try:
        return check_job_id(value)
    except InvalidJobIdError as exc:
        raise typer.BadParameter(str(exc)) from None


def parse_data(raw: str | None) -> Any:
    """--data as JSON text, @file.json, or @- for stdin."""
    if raw is None:
        return None
    source = "--data"
    if raw.startswith("@"):
        name = raw[1:]
        source = "stdin" if name == "-" else name
        try:
            raw = sys.stdin.read() if name == "-" else Path(name).read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {name!r}: {exc.strerror}", param_hint="'--data'") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            'pass e.g. --data \'{"url": "https://example.com"}\' or --data @payload.json',
            param_hint="'--data'",
        ) from None


@app.command()
def add(
    ctx: typer.Context,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="A job type from `offload jobs types`.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The job's data: JSON, @file.json, or @- for stdin.")
    ] = None,
    delay: Annotated[
        float | None, typer.Option("--delay", min=0, help="Start no sooner than this many seconds.")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Enqueues with the same key give the same job.")
    ] = None,
    attempts: Annotated[int | None, typer.Option("--attempts", min=1, help="Override the type's attempts.")] = None,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="POST the job's outcome to this URL when it finishes.")
    ] = None,
    priority: Annotated[
        int | None, typer.Option("--priority", min=0, max=10, help="0-10; picks the queue's priority lane.")
    ] = None,
) -> None:
    """Queue a job and print its id and status as JSON."""
    payload = parse_data(data)
    local = local_catalog()
    if local is not None:
        local.job_type(type_name)  # in an app's directory, an unknown type fails before any AWS call
    rt = runtime_of(ctx)
    job_id = enqueue(
        type_name,
        payload,
        delay=delay,
        idempotency_key=idempotency_key,
        attempts=attempts,
        webhook_url=webhook_url,
        priority=priority,
        runtime=rt,
    )
    # Read back: with an idempotency key this may be an existing job in any status.
    render.emit_json({"jobId": job_id, "status": admin.get_job(rt, job_id).status.value})


@app.command()
def get(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.", callback=check_job_id_param)],
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow the job until it finishes; exit 1 unless it completes.")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between polls with --watch.")] = 0.5,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="Stop watching after this many seconds (exit 1).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show one job: status, progress, attempts, result or error, timestamps."""
    rt = runtime_of(ctx)
    if watch:
        job = watch_job(rt, job_id, interval_s=interval, timeout_s=timeout, console=stderr)
    else:
        job = admin.get_job(rt, job_id)
    if as_json:
        render.emit_json(job.summary())
    else:
        render.stdout.print(render.job_panel(job))
    if not watch or job.status == JobStatus.COMPLETED:
        return
    if not job.status.terminal:
        fail(f"job {job_id} is still {job.status.value} after {timeout:g} s; watch longer with --timeout")
    raise typer.Exit(1)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option("--status", "-s", help="Only jobs in this status.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", callback=check_queue, help="Only this queue.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="At most this many jobs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first (finished jobs until they expire)."""
    rt = runtime_of(ctx)
    statuses = [status] if status else list(JobStatus)
    jobs = [j for s in statuses for j in admin.list_jobs(rt, s, queue=queue, limit=limit)]
    jobs.sort(key=lambda j: j.created_at, reverse=True)
    jobs = jobs[:limit]
    if as_json:
        render.emit_json([j.summary() for j in jobs])
    else:
        render.stdout.print(render.jobs_table(jobs))


@app.command()
def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="A queued, delayed or running job.", callback=check_job_id_param)],
    as_json: JsonOption = False,
) -> None:
    """Cancel a waiting job, or ask a running one to stop at its next progress update."""
    job = admin.cancel(runtime_of(ctx), job_id)
    if as_json:
        render.emit_json(job.summary())
    elif job.status == JobStatus.CANCELLED:
        render.stdout.print(f"[green]cancelled[/] job {job.job_id}; it will not run")
    elif job.status == JobStatus.ACTIVE:
        render.stdout.print(
            f"job {job.job_id} is running: [yellow]asked it to stop[/] at its next progress update; "
            f"follow it with `offload jobs get {job.job_id} --watch`"
        )
    else:
        render.stdout.print(f"job {job.job_id} finished before it could be cancelled: {job.status.value}")


@app.command()
def retry(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="A failed job.", callback=check_job_id_param)],
    as_json: JsonOption = False,
) -> None:
    """Run a failed job again from attempt 1 (its message is taken out of the DLQ if it is there)."""
    job = admin.retry(runtime_of(ctx), job_id)
    if as_json:
        render.emit_json(job.summary())
    else:
        render.stdout.print(
            f"[green]requeued[/] job {job.job_id} on queue {job.queue!r} from attempt 1 "
            f"(up to {job.max_attempts}); its dead-letter copy, if any, was removed"
        )


@app.command()
def types(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The job types in the catalog, with their queue, retry policy and timeout."""
    rows = render.job_types(local_catalog() or runtime_of(ctx).catalog)
    if as_json:
        render.emit_json(rows)
    else:
        render.stdout.print(render.job_types_table(rows))
