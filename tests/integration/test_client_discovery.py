"""App code finds its deployment as the CLI does: the stack's ClientConfig output, named by OFFLOAD_STACK."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest

from offload.runtime import default_runtime, set_default_runtime
from offload.settings import Settings, SettingsError


@pytest.fixture
def app_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A process like an app's: no OFFLOAD_* variables and no runtime built yet."""
    for name in [n for n in os.environ if n.startswith("OFFLOAD_")]:
        monkeypatch.delenv(name)
    set_default_runtime(None)
    yield settings
    set_default_runtime(None)


def _deploy_stack(name: str, settings: Settings) -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ClientConfig": {"Value": json.dumps(settings.model_dump())}},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


def test_enqueue_in_app_code_finds_the_stack_named_by_offload_stack_once_per_process(app_env, monkeypatch):
    # Given a deployed stack named by OFFLOAD_STACK, and no OFFLOAD_* variables
    _deploy_stack("offload-prod", app_env)
    monkeypatch.setenv("OFFLOAD_STACK", "offload-prod")
    from offload import enqueue

    # When app code enqueues, the stack goes away, and it enqueues again
    first = enqueue("diag.echo", {"from": "app"})
    boto3.client("cloudformation", region_name="us-east-1").delete_stack(StackName="offload-prod")
    second = enqueue("diag.echo", {"from": "app"})

    # Then both jobs are in the stack's table: the outputs were read once, for the first
    rt = default_runtime()
    assert rt.settings == app_env
    assert {rt.store.get(first).data["from"], rt.store.get(second).data["from"]} == {"app"}


def test_the_stack_defaults_to_offload(app_env):
    _deploy_stack("Offload", app_env)

    assert default_runtime().settings.table == app_env.table


def test_no_deployment_is_one_settings_error_naming_the_stack_the_endpoint_and_the_fix(app_env, monkeypatch):
    monkeypatch.setenv("OFFLOAD_STACK", "nope")
    from offload import enqueue

    with pytest.raises(SettingsError) as err:
        enqueue("diag.echo", {})

    message = str(err.value)
    assert message.startswith("stack 'nope' not found at AWS region us-east-1: set OFFLOAD_STACK=NAME")
    assert "AWS_ENDPOINT_URL=URL for a local cloud" in message and "offload local up" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__, "one error, not a chain"


def test_inside_lambda_the_offload_variables_are_used_and_no_stack_is_read(app_env, monkeypatch):
    for name, value in app_env.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OFFLOAD_STACK", "not-deployed")

    assert default_runtime().settings == app_env
