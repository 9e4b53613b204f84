"""The `offload` command: operate a deployment's jobs and queues from a terminal or a script.

Global options say where the deployment is; commands that touch AWS find its resources
on first use (OFFLOAD_* variables, else the stack's ClientConfig output). Expected errors
print one red line on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from offload.catalog import CatalogError, import_object
from offload.cli import console, dashboard, health, init, jobs, local, queues, schedules
from offload.cli.errors import OffloadGroup
from offload.cli.resources import CLI_FIXES, CliState, Target, cli_catalog
from offload.discovery import DEFAULT_REGION
from offload.project import stack_name

app = typer.Typer(
    cls=OffloadGroup,
    help="Operate offload: add and inspect jobs, watch queues, redrive dead letters.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(jobs.app, name="jobs")
app.add_typer(queues.app, name="queues")
app.add_typer(schedules.app, name="schedules")
app.add_typer(local.app, name="local")
app.command(name="init")(init.init)
app.command(name="health")(health.health)
app.command(name="dashboard")(dashboard.dashboard)
app.command(name="console")(console.console)


def add_pack_commands() -> None:
    """Each pack in the app's catalog that brings commands gets them under its name (`offload images ...`).

    A catalog that doesn't load adds none: the commands that need it say why in one line.
    """
    try:
        packs = cli_catalog().packs
    except CatalogError:
        return
    for pack in packs:
        if not pack.cli:
            continue
        try:
            commands = import_object(pack.cli, f"pack {pack.name!r} commands")
        except CatalogError:  # `offload local up` and synth say why in one line; other commands still work
            continue
        # A pack's commands are `offload <pack>`, unless its typer app names itself (`offload videos`).
        app.add_typer(commands, name=commands.info.name or pack.name)


add_pack_commands()


@app.callback()
def root(
    ctx: typer.Context,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="Send every AWS call here (a local cloud)."),
    ] = None,
    stack: Annotated[
        str, typer.Option("--stack", envvar="OFFLOAD_STACK", help="The CloudFormation stack to read outputs from.")
    ] = stack_name(),
    region: Annotated[
        str, typer.Option("--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="The AWS region.")
    ] = DEFAULT_REGION,
) -> None:
    """Where the deployment is; OFFLOAD_* variables (OFFLOAD_TABLE, ...) take precedence over --stack."""
    ctx.obj = CliState(Target(endpoint_url=endpoint_url or None, stack=stack, region=region, **CLI_FIXES))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
