"""`offload schedules ...`: the catalog's cron schedules (EventBridge, UTC), and firing one now."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail, stderr
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.cli.watch import watch_job
from offload.jobs import admin
from offload.jobs.model import JobStatus

app = typer.Typer(help="List the cron schedules and run one now.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every schedule: when it fires (in words and cron, UTC), its job type, the next run, whether it is on."""
    rows = admin.schedule_rows(runtime_of(ctx))
    if as_json:
        render.emit_json(
            [
                {
                    "name": r.schedule.name,
                    "expression": r.schedule.expression,
                    "words": r.words,
                    "job_type": r.schedule.job_type,
                    "queue": r.queue,
                    "data": r.schedule.data,
                    "next_run": r.next,
                    "enabled": r.enabled,
                }
                for r in rows
            ]
        )
        return
    table = Table("Schedule", "When (UTC)", "Job type", "Next run (UTC)", "Enabled")
    for r in rows:
        state = "-" if r.enabled is None else "yes" if r.enabled else "no"
        table.add_row(r.schedule.name, f"{r.words}\n{r.schedule.expression}", r.schedule.job_type, r.next, state)
    render.stdout.print(table)


@app.command()
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A schedule from `offload schedules list`.")],
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Follow the job until it finishes; show its result.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0, help="Give up waiting after this many seconds.")] = 300,
    as_json: JsonOption = False,
) -> None:
    """Send the schedule's job to its queue now, as its rule would; print the job id (and, with --wait, the result)."""
    rt = runtime_of(ctx)
    job_id = admin.run_schedule(rt, name)
    if not wait:
        if as_json:
            render.emit_json({"schedule": name, "job_id": job_id})
        else:
            render.stdout.print(f"schedule {name} fired: job {job_id} (follow it: offload jobs get {job_id} --watch)")
        return
    stderr.print(f"schedule {name} fired: job {job_id}")
    deadline = time.monotonic() + timeout
    # The record exists once the queue's worker adopts the message.
    while True:
        try:
            admin.get_job(rt, job_id)
            break
        except admin.JobNotFoundError:
            if time.monotonic() >= deadline:
                fail(
                    f"job {job_id} was not picked up within {timeout:g} s: is the worker of its queue running "
                    "(`offload local up` on the local cloud)?"
                )
            time.sleep(0.25)
    job = watch_job(rt, job_id, interval_s=0.5, timeout_s=max(0.0, deadline - time.monotonic()), console=stderr)
    if as_json:
        render.emit_json(job.summary())
    else:
        render.stdout.print(render.job_panel(job))
    if job.status == JobStatus.COMPLETED:
        return
    if not job.status.terminal:
        fail(f"job {job_id} is still {job.status.value} after {timeout:g} s; wait longer with --timeout")
    raise typer.Exit(1)
