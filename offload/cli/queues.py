"""`offload queues ...`: per-queue statistics and dead-letter redrive."""

from __future__ import annotations

from typing import Annotated

import typer

from offload.cli import render
from offload.cli.jobs import JsonOption, check_queue
from offload.cli.resources import runtime_of
from offload.jobs import admin

app = typer.Typer(help="Queue statistics and dead-letter redrive.", no_args_is_help=True)


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
