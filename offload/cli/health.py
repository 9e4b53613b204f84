"""`offload health`: the deployment's health check, the same one the API's `GET /health` answers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.client import OffloadApiError
from offload.health import deployment_health

DirectOption = Annotated[
    bool,
    typer.Option(
        "--direct",
        help="run the checks from this machine instead of asking the deployment's GET /health (which reaches "
        "Redis inside the VPC)",
    ),
]


def health(ctx: typer.Context, as_json: JsonOption = False, direct: DirectOption = False) -> None:
    """Check Redis, the queues, the jobs table and the event bus; exit 1 when any check fails.

    With an HTTP API in the deployment, its `GET /health` answers: the API function runs where the workers
    do, so it can reach the rate-limit cache that this machine (outside the VPC) can't."""
    try:
        report = deployment_health(runtime_of(ctx), direct=direct)
    except (OSError, OffloadApiError) as exc:
        fail(f"the deployment's GET /health did not answer ({exc}); run `offload health --direct` to check from here")
    if as_json:
        render.emit_json(report)
    else:
        verdict = Text("healthy", style="bold green") if report["healthy"] else Text("unhealthy", style="bold red")
        render.stdout.print(
            Text("offload: ") + verdict + Text(f"  ({report['timestamp']}, checked by {report['checkedBy']})")
        )
        for name, check in report["checks"].items():
            fields = "  ".join(f"{k}={v}" for k, v in check.items())
            render.stdout.print(f"  {name:<6} {fields}")
        for reason in report["reasons"]:
            render.stdout.print(Text(f"  - {reason}", style="red"))
    if not report["healthy"]:
        raise typer.Exit(1)
