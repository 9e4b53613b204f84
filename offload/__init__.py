"""offload: serverless background jobs on AWS.

The public entry points are imported lazily so that `import offload` stays cheap for
CDK synth and for Lambda cold starts that need only part of the library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from offload.jobs.context import JobContext
    from offload.jobs.enqueue import enqueue, enqueue_many

__all__ = ["JobContext", "enqueue", "enqueue_many"]


def __getattr__(name: str) -> Any:
    if name in ("enqueue", "enqueue_many"):
        from offload.jobs import enqueue as module

        return getattr(module, name)
    if name == "JobContext":
        from offload.jobs.context import JobContext

        return JobContext
    raise AttributeError(f"module 'offload' has no attribute {name!r}")
