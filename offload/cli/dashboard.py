"""`offload dashboard`: the CloudWatch console URL of the deployment's dashboard (its DashboardUrl output)."""

from __future__ import annotations

import typer

from offload.cli.errors import fail
from offload.cli.resources import runtime_of
from offload.settings import ENV_PREFIX


def dashboard(ctx: typer.Context) -> None:
    """Print the console URL of the stack's CloudWatch dashboard (queues, workers, jobs, pipelines, alarms)."""
    url = runtime_of(ctx).settings.dashboard_url
    if not url:
        fail(
            f"these settings have no dashboard_url: set {ENV_PREFIX}DASHBOARD_URL, unset {ENV_PREFIX}TABLE so the "
            "stack's ClientConfig output is read (--stack names the stack), or redeploy the stack with this "
            "version of offload, which adds the dashboard"
        )
    typer.echo(url)  # plain, so `open $(offload dashboard)` works
