"""pytest fixtures for an app's jobs (`pytest_plugins = ["offload.testing.fixtures"]`); see offload.testing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from offload.catalog import Catalog, load_catalog
from offload.jobs.model import Job
from offload.project import catalog_path
from offload.runtime import Runtime, set_default_runtime
from offload.testing.aws import REGION, provision
from offload.testing.openai_server import FakeOpenAIServer
from offload.testing.worker import run_job as _run_job

if TYPE_CHECKING:
    import openai

# Never reach a real AWS account from an app's tests, whatever the developer's shell holds.
_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@pytest.fixture
def offload_catalog() -> Catalog:
    """The app's catalog, as cdk.json (or OFFLOAD_CATALOG) names it; override to test another."""
    return load_catalog(catalog_path())


@pytest.fixture
def offload_runtime(offload_catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A moto stack with the catalog's queues (and lanes, DLQs), the jobs table, bus, topic, bucket and secret."""
    from moto import mock_aws

    from offload.aws import Clients
    from offload.local.s3vectors_query import add_query_vectors

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in _FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    add_query_vectors()  # moto stores S3 Vectors but can't query them: the local cloud's shim answers
    with mock_aws():
        rt = Runtime(provision(offload_catalog), Clients(region=REGION), catalog=offload_catalog)
        set_default_runtime(rt)
        try:
            yield rt
        finally:
            set_default_runtime(None)


@pytest.fixture
def run_job(offload_runtime: Runtime) -> Callable[..., Job]:
    """`run_job(type, data, **enqueue_options)`: the job's final record after the real worker ran it."""

    def run(type_name: str, data: Any = None, **options: Any) -> Job:
        return _run_job(offload_runtime, type_name, data, **options)

    return run


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A loopback OpenAI-compatible server; `server.script(Reply(...))`, point the SDK at `server.base_url`."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_client(openai_server: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    """An openai SDK client on `openai_server`, built as offload's adapters build theirs (SDK retries off)."""
    from offload.ai.openai_adapter import make_client

    client = make_client("sk-test", openai_server.base_url, timeout_s=5)
    yield client
    client.close()


__all__ = ["offload_catalog", "offload_runtime", "openai_client", "openai_server", "run_job"]
