"""`offload health`: the deployment's health check, the same one the API's `GET /health` answers."""

from __future__ import annotations

import typer
from rich.text import Text

from offload.cli import render
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.health import check_health


def health(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check Redis, the queues, the jobs table and the event bus; exit 1 when any check fails."""
    report = check_health(runtime_of(ctx))
    if as_json:
        render.emit_json(report)
    else:
        verdict = Text("healthy", style="bold green") if report["healthy"] else Text("unhealthy", style="bold red")
        render.stdout.print(Text("offload: ") + verdict + Text(f"  ({report['timestamp']})"))
        for name, check in report["checks"].items():
            fields = "  ".join(f"{k}={v}" for k, v in check.items())
            render.stdout.print(f"  {name:<6} {fields}")
        for reason in report["reasons"]:
            render.stdout.print(Text(f"  - {reason}", style="red"))
    if not report["healthy"]:
        raise typer.Exit(1)
