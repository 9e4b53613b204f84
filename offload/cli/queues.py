"""`offload queues ...`: per-queue statistics, dead-letter redrive, pausing and resuming delivery."""

from __future__ import annotations

from typing import Annotated

import typer

from offload.cli import render
from offload.cli.jobs import JsonOption, check_queue
from offload.cli.resources import runtime_of
from offload.jobs import admin

app = typer.Typer(help="Queue statistics, dead-letter redrive, pause and resume.", no_args_is_help=True)
QueueArgument = Annotated[str, typer.Argument(callback=check_queue, help="A catalog queue.")]


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Jobs by status per queue (from the table) and message counts (from SQS, DLQ included)."""
    rows = admin.queue_stats(runtime_of(ctx))
    if as_json:
        render.emit_json(rows)
    else:
        render.stdout.print(render.queue_stats_table(rows))


@app.command()
def redrive(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(callback=check_queue, help="The catalog queue whose DLQ to empty.")],
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Move at most this many messages.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Move a queue's dead-letter messages back to it; failed jobs restart from attempt 1."""
    report = admin.redrive(runtime_of(ctx), queue, limit=limit)
    if as_json:
        render.emit_json(render.redrive_json(report))
    else:
        for line in render.redrive_lines(report):
            render.stdout.print(line)


@app.command()
def pause(ctx: typer.Context, queue: QueueArgument, as_json: JsonOption = False) -> None:
    """Stop delivering a queue's messages to its worker (its event source mappings); they wait in SQS."""
    _delivery_changed(admin.pause_queue(runtime_of(ctx), queue), as_json)


@app.command()
def resume(ctx: typer.Context, queue: QueueArgument, as_json: JsonOption = False) -> None:
    """Deliver a paused queue's messages to its worker again."""
    _delivery_changed(admin.resume_queue(runtime_of(ctx), queue), as_json)


def _delivery_changed(report: admin.PauseReport, as_json: bool) -> None:
    if as_json:
        render.emit_json({"queue": report.queue, "paused": not report.enabled, "mappings": report.mappings})
        return
    state = "resumed: messages are delivered again" if report.enabled else "paused: messages wait in SQS"
    render.stdout.print(f"queue {report.queue} {state} ({len(report.mappings)} event source mappings)")
