"""App catalogs for the tests: small compositions, and bad ones that must fail with one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from offload.catalog import Catalog, JobType, Pack, QueueSpec, S3Trigger
from offload.packs import core, maintenance

if TYPE_CHECKING:  # names the processor below annotates with, unknown at run time
    from offload.jobs.context import JobContext
    from tests.support.processors import CountData as GhostModel

# An app that uses only the packs with no fixed monthly cost.
core_only = Catalog.compose(core, maintenance)

# A processor path that does not import.
missing_module = Catalog.compose(
    core, Pack("broken", job_types=(JobType("broken.job", queue="default", processor="no_such_app.jobs:run"),))
)


def untyped(data, ctx):
    """A processor whose first parameter is not a pydantic model."""
    return data


# A processor whose first parameter isn't a pydantic model.
untyped_processor = Catalog.compose(
    core, Pack("loose", job_types=(JobType("loose.job", queue="default", processor="tests.support.catalogs:untyped"),))
)

not_a_catalog: dict[str, list[str]] = {"queues": []}


def compose_clash() -> Catalog:
    """Two packs that both declare the `default` queue."""
    return Catalog.compose(core, Pack("mine", queues=(QueueSpec("default", concurrency=2),)))


def compose_trigger_on_missing_type() -> Catalog:
    return Catalog.compose(core, Pack("mine", s3_triggers=(S3Trigger("uploads/docs/", "docs.index"),)))


def compose_type_on_missing_queue() -> Catalog:
    return Catalog.compose(
        core, Pack("mine", job_types=(JobType("docs.index", queue="docs", processor="tests.support.processors:count"),))
    )


def hinted_only_for_type_checking(data: GhostModel, ctx: JobContext) -> None:
    """A processor whose annotations name classes imported only under TYPE_CHECKING."""


hidden_model = Catalog.compose(
    core,
    Pack(
        "hidden",
        job_types=(
            JobType("hidden.job", queue="default", processor="tests.support.catalogs:hinted_only_for_type_checking"),
        ),
    ),
)
