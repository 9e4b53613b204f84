"""`offload console`: the web console of the deployment the CLI's options name, on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from offload.cli.errors import fail, stderr
from offload.cli.resources import CliState, runtime_of


def console(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to serve on (0: any free one).")
    ] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback needs --allow-remote.")
    ] = ("127.0.0.1"),
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Let --host be a non-loopback address (with a warning).")
    ] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the console in a browser.")] = False,
) -> None:
    """Serve the web console (queues, jobs, dead letters, schedules, media) until Ctrl-C."""
    from offload.console import local_log_file, start_console
    from offload.console.server import ConsoleBindError, check_bind
    from offload.jobs.logs import InsightsJobLogs, JobLogs, stack_log_groups

    try:
        warning = check_bind(host, allow_remote=allow_remote)
    except ConsoleBindError as exc:
        fail(str(exc), code=2)
    state = ctx.find_object(CliState)
    assert state is not None
    rt = runtime_of(ctx)  # finds the deployment now: a wrong stack or endpoint fails before serving
    rt.settings  # noqa: B018
    logs: JobLogs | None = None
    if state.target.endpoint_url:
        logs = local_log_file(Path(os.getcwd()))  # a local cloud: its functions log to .offload-local/

    def insights() -> JobLogs:
        groups = stack_log_groups(rt.clients.client("cloudformation"), state.target.stack)
        return InsightsJobLogs(rt.clients.client("logs"), groups)

    try:
        server = start_console(rt, logs or insights, host=host, port=port)
    except OSError as exc:
        fail(f"cannot serve the console on {host}:{port} ({exc.strerror}): pick another port with --port N")
    if warning:
        stderr.print(f"[yellow]warning: {warning}[/]")
    print(f"offload console on {server.url} (Ctrl-C stops)", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
