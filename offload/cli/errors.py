"""Expected failures become one red line on stderr and exit code 1; bugs keep their traceback."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from offload.catalog import UnknownJobTypeError
from offload.cli.resources import LOCAL_HINT, CliState
from offload.errors import JobError
from offload.jobs.admin import AdminError
from offload.jobs.enqueue import EnqueueError
from offload.settings import SettingsError

# ValueError covers pydantic's ValidationError and the catalog's policy/range errors;
# JobError covers PayloadError (the job data does not match its type's model).
EXPECTED: tuple[type[BaseException], ...] = (
    AdminError,
    SettingsError,
    UnknownJobTypeError,
    EnqueueError,
    JobError,
    ValueError,
    ClientError,
    BotoCoreError,
)
_MISSING_RESOURCE = {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}

stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` in red on stderr and exit."""
    stderr.print(Text("error: ", style="bold red") + Text(" ".join(message.split()), style="red"))
    raise typer.Exit(code)


def describe(exc: BaseException, state: CliState | None) -> str:
    """One line that says what went wrong and, where we know it, what to do."""
    where = state.target.where() if state else "the configured endpoint"
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(any values work against a local endpoint)"
        )
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', where)}: {LOCAL_HINT}, or fix --endpoint-url"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _MISSING_RESOURCE:
            return (
                f"{exc}: a resource named in the settings does not exist at {where}; "
                "check --stack/--endpoint-url or the OFFLOAD_* variables"
            )
        return str(exc)
    return str(exc)


class OffloadGroup(TyperGroup):
    """The root command group: turns expected errors into `fail(...)`."""

    # Any: typer's Context base lives in its private vendored click module.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED as exc:
            state = ctx.obj if isinstance(ctx.obj, CliState) else None
            fail(describe(exc, state))
