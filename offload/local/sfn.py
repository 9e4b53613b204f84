"""Step Functions locally: moto's executor runs the state machines; Lambda tasks run in-process.

moto executes state machines when its config says so, and invokes Lambda tasks through its
own Lambda backend, which would start a Docker container. `LambdaFunction._invoke_lambda`
is replaced here by a call into the local cloud's in-process functions (the canary test in
tests/integration/test_moto_canary.py fails by name if moto changes that method). The tasks name
functions that the provisioner created in moto's Lambda backend (offload.local.provision.register_functions).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

PATCHED_ATTRIBUTE = "_invoke_lambda"


def enable_execution(endpoint: str, enabled: bool = True) -> None:
    """Tell the moto server to really execute state machines (off by default; `enabled=False` turns it
    back off for a server that shares its process, and moto's config, with other tests)."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": enabled}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request, timeout=10)


def route_lambda_tasks(invoke: Callable[[str, Any], Any]) -> Callable[[], None]:
    """Make moto's Lambda backend call `invoke(function_name, event)`; returns the undo function."""
    from moto.awslambda.models import LambdaFunction

    original = getattr(LambdaFunction, PATCHED_ATTRIBUTE)

    def invoke_in_process(self: Any, event: str | None = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) and event else (event or {})
        try:
            result = invoke(self.function_name, payload)
        except Exception as exc:
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return json.dumps(error), True, f"{type(exc).__name__}: {exc}"
        return json.dumps(result), False, ""

    setattr(LambdaFunction, PATCHED_ATTRIBUTE, invoke_in_process)
    undo_stop = keep_stopped_executions_aborted()

    def undo() -> None:
        setattr(LambdaFunction, PATCHED_ATTRIBUTE, original)
        undo_stop()

    return undo


def keep_stopped_executions_aborted() -> Callable[[], None]:
    """A stopped execution ends ABORTED, as on AWS, even when a Map was running: moto's executor lets
    the Map's interrupted iterations end the program as an error (FAILED). Returns the undo function."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_stop = Execution.stop
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        self.offload_stopped = True
        original_stop(self, stop_date, error, cause)

    def reflect(self: Any) -> None:
        original_reflect(self)
        if getattr(self.execution, "offload_stopped", False):
            self.execution.exec_status = ExecutionStatus.ABORTED
            self.execution.error = self.execution.cause = None

    Execution.stop = stop  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect  # type: ignore[method-assign]

    def undo() -> None:
        Execution.stop = original_stop  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication._reflect_execution_status = original_reflect  # type: ignore[method-assign]

    return undo
