"""The web console (`offload console`, and `offload local up` serves one too): queues, jobs, dead
letters, schedules, images and videos of one deployment, with the operator's own credentials."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from offload.aws import Clients
from offload.console.pages import Console
from offload.console.server import DEFAULT_PORT, ConsoleServer
from offload.discovery import CLIENT_CONFIG_OUTPUT
from offload.jobs.logs import FileJobLogs, JobLogs
from offload.runtime import Runtime
from offload.settings import Settings

if TYPE_CHECKING:
    from offload.local.cloud import LocalCloud

__all__ = ["DEFAULT_PORT", "ConsoleServer", "local_console", "local_log_file", "start_console"]

LOCAL_LOG = Path(".offload-local") / "functions.log"


def local_log_file(root: Path) -> FileJobLogs:
    """The local cloud's function log of the app in `root`."""
    return FileJobLogs(root / LOCAL_LOG)


def local_console(cloud: LocalCloud, *, port: int = DEFAULT_PORT) -> tuple[ConsoleServer, str | None]:
    """The console of a running local cloud (its ClientConfig, its endpoint, its function log), and a
    notice when `port` was taken and a free one is used instead (tests run several clouds at once)."""
    from offload.local.template import REGION

    settings = Settings.model_validate_json(cloud.outputs[CLIENT_CONFIG_OUTPUT])
    rt = Runtime(settings, Clients(endpoint_url=cloud.endpoint, region=REGION))
    logs = local_log_file(cloud.cdk_out.parent)
    try:
        return start_console(rt, logs, host=cloud.host, port=port), None
    except OSError:
        server = start_console(rt, logs, host=cloud.host, port=0)
        return server, f"console port {port} is in use: serving the console on port {server.port} instead"


def start_console(
    rt: Runtime, logs: JobLogs | Callable[[], JobLogs], *, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> ConsoleServer:
    """Serve the console of `rt` on host:port (0: a free port) in a background thread."""
    rt.store, rt.queues  # noqa: B018  (built once here, not by two request threads at once)
    token = secrets.token_urlsafe(24)
    pages = Console(rt, logs, token=token)
    return ConsoleServer(pages.routes(), host=host, port=port, token=token, on_error=pages.failure).start()
