"""`offload local ...`: run the synthesized stack on this machine."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from rich.console import Console
from rich.table import Table

from offload.project import stack_name

app = typer.Typer(help="Run the stack locally: a moto server plus the stack's functions, from cdk.out/.")
console = Console()
err = Console(stderr=True)
DEFAULT_PORT = 4566


def _endpoint(endpoint_url: str | None, port: int) -> str:
    return endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{port}"


def _client(endpoint: str) -> Any:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    return make


@app.command()
def up(
    port: Annotated[int, typer.Option(help="port of the local AWS endpoint")] = DEFAULT_PORT,
    api_port: Annotated[
        int | None, typer.Option(help="port of the stack's HTTP API (default: --port + 1)", show_default=False)
    ] = None,
    stack: Annotated[
        str, typer.Option(help="stack name in cdk.out/ (default: offload:stackName in cdk.json)")
    ] = stack_name(),
    cdk_out: Annotated[Path, typer.Option(help="the cloud assembly directory")] = Path("cdk.out"),
    cron: Annotated[bool, typer.Option(help="fire scheduled rules on their schedules")] = True,
    ttl_sweep_s: Annotated[float, typer.Option(help="seconds between sweeps of expired TTL items")] = 30.0,
    web_console: Annotated[bool, typer.Option("--console/--no-console", help="serve the web console too")] = True,
    console_port: Annotated[int, typer.Option(help="port of the web console (a free one if taken)")] = 8765,
) -> None:
    """Start the local cloud and keep it running until Ctrl-C."""
    from offload.local.cloud import LocalCloud, PortInUseError

    cloud = LocalCloud(
        stack_name=stack,
        cdk_out=cdk_out.resolve(),
        port=port,
        api_port=api_port,
        cron=cron,
        ttl_sweep_s=ttl_sweep_s,
        log=console.print,
    )
    from offload.catalog import CatalogError

    try:
        cloud.start()
    except CatalogError as exc:
        cloud.stop()
        err.print(f"[red]error: {exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    except PortInUseError as exc:
        err.print(f"[red]error: {exc}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        cloud.stop()
        err.print(f"[red]error: could not start on port {port}: {exc}; pick another with --port N[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    stop = threading.Event()
    web: Any = None  # the web console's server, once started
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for line in cloud.describe():
            console.print(line)
        table = Table(title=f"{stack} outputs", title_justify="left")
        table.add_column("output")
        table.add_column("value", overflow="fold")
        for name, value in cloud.outputs.items():
            if name != "ClientConfig":
                table.add_row(name, value)
        console.print(table)
        if web_console:
            from offload.console import local_console

            web, notice = local_console(cloud, port=console_port)
            if notice:
                console.print(notice)
            console.print(f"console {web.url}")
        console.print(
            f"[green]ready[/]: export AWS_ENDPOINT_URL={cloud.endpoint} then use `offload` or the AWS CLI; "
            "function logs: .offload-local/functions.log; "
            + (f"web console {web.url}; " if web_console else "")
            + "Ctrl-C stops"
        )
        while not stop.wait(0.5):  # a timed wait: the main thread wakes to run the Ctrl-C handler
            pass
    finally:
        console.print("stopping ...")
        if web is not None:
            web.stop()
        cloud.stop()


@app.command()
def outputs(
    port: Annotated[int, typer.Option()] = DEFAULT_PORT,
    stack: Annotated[str, typer.Option()] = stack_name(),
    endpoint_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Print the running local stack's outputs as JSON."""
    endpoint = _endpoint(endpoint_url, port)
    try:
        described = _client(endpoint)("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:
        err.print(f"[red]no local stack {stack!r} at {endpoint}: {exc}. Is `offload local up` running?[/]")
        raise typer.Exit(1) from None
    print(
        json.dumps(
            {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}, indent=2, ensure_ascii=False
        )
    )


@app.command()
def trigger(
    rule: Annotated[str, typer.Argument(help="rule name, or its catalog schedule name (e.g. daily-dlq-audit)")],
    port: Annotated[int, typer.Option()] = DEFAULT_PORT,
    endpoint_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Fire a scheduled rule's targets now."""
    from offload.local.rules import fire_rule

    endpoint = _endpoint(endpoint_url, port)
    try:
        delivered = fire_rule(_client(endpoint), rule)
    except (KeyError, RuntimeError) as exc:
        err.print(f"[red]{exc.args[0] if exc.args else exc}[/]")
        raise typer.Exit(1) from None
    except Exception as exc:
        err.print(f"[red]could not reach {endpoint}: {exc}. Is `offload local up` running?[/]")
        raise typer.Exit(1) from None
    console.print(f"fired {rule}: delivered to {', '.join(delivered) or 'no targets'}")
