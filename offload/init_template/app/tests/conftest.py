"""offload's fixtures: a moto stack from cdk.json's catalog, and `run_job` through the real worker."""

pytest_plugins = ["offload.testing.fixtures"]
