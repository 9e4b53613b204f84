"""Shared fixtures: fake AWS credentials, moto, a provisioned stack and a runtime."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.support.redis_server import private_redis  # noqa: F401  (a fixture, shared by the Redis tests)

# The fuzzers (tests/**/test_fuzz_*.py): a few fixed examples in `make test`, many random ones in `make chaos`.
_FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture], "database": None}
hypothesis_settings.register_profile("offload", max_examples=40, derandomize=True, **_FUZZ)
hypothesis_settings.register_profile("chaos", max_examples=1500, **_FUZZ)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "offload"))

# The fixtures an app's tests get (offload_runtime, run_job, openai_server), used here too.
pytest_plugins = ["offload.testing.fixtures"]

# Never reach a real AWS account from the tests, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "OffloadTest",
        "POWERTOOLS_DEV": "false",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS call inside the test (with the local cloud's S3 Vectors QueryVectors)."""
    from moto import mock_aws

    from offload.local.s3vectors_query import add_query_vectors

    add_query_vectors()
    with mock_aws():
        yield


@pytest.fixture
def offload_catalog():
    """The project's own tests run every built-in pack plus the test job types (offload.testing overrides)."""
    from tests.support.processors import TEST_CATALOG

    return TEST_CATALOG


@pytest.fixture
def runtime(offload_runtime):
    """A runtime on the moto stack with the test job types, also set as the default (offload.testing's)."""
    from tests.support.processors import RUNS

    RUNS.clear()
    return offload_runtime


@pytest.fixture
def settings(runtime):
    return runtime.settings
