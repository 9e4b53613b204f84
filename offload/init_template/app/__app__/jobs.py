"""{{app}}'s jobs: its own queue and job types, composed with the offload packs it uses.

Add a job type: write a function whose first parameter is a pydantic model (the payload, validated
when the job is enqueued) and add a JobType naming it to `pack` below. Then `make test`, and restart
`offload local up` (it loads the catalog when it starts).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from offload.catalog import Catalog, JobType, Pack, QueueSpec
from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.packs import core


class GreetData(BaseModel):
    """The payload of `{{app}}.greet`."""

    name: str = Field(min_length=1, max_length=100)
    shout: bool = False


def greet(data: GreetData, ctx: JobContext) -> dict[str, Any]:
    """Say hello: an example job that reports progress and refuses one input for good."""
    if data.name.lower() == "nobody":
        raise NonRetryableError("nobody can't be greeted: pass a real name")  # fails at once, no retries
    ctx.update_progress(50)  # visible to `offload jobs get`
    text = f"Hello, {data.name}!"
    return {"greeting": text.upper() if data.shout else text}  # stored as the job's result


pack = Pack(
    "{{app}}",
    queues=(QueueSpec("{{app}}", concurrency=2, timeout_s=60),),
    job_types=(
        JobType("{{app}}.greet", queue="{{app}}", processor="{{app}}.jobs:greet", description="Say hello."),
    ),
)

# The core pack brings the default and notifications queues, webhooks and http.fetch. Add
# offload.packs.images (image pipeline) or maintenance (DLQ audit crons) here to deploy them too.
catalog = Catalog.compose(core, pack)
