"""The image pipeline in the template: uploads wired to SQS, a Standard state machine with retries and a catch."""

from __future__ import annotations

import json

from offload.packs import everything as CATALOG
from tests.infra.conftest import resources_of


def _machine(template_json: dict) -> dict:
    (machine,) = resources_of(template_json, "AWS::StepFunctions::StateMachine").values()
    return machine


def _definition(machine: dict) -> dict:
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "X" for p in parts))


def test_uploads_under_each_catalog_trigger_prefix_notify_that_job_types_queue(template_json: dict) -> None:
    configs = [
        c
        for b in resources_of(template_json, "AWS::S3::Bucket").values()
        for c in b["Properties"].get("NotificationConfiguration", {}).get("QueueConfigurations", [])
    ]
    assert [c["Filter"]["S3Key"]["Rules"] for c in configs] == [
        [{"Name": "prefix", "Value": t.prefix}] for t in CATALOG.s3_triggers
    ]
    assert all(c["Event"] == "s3:ObjectCreated:*" and "QueueImagesQueue" in json.dumps(c["Queue"]) for c in configs)


def test_state_machine_is_standard_with_logging_and_tracing(template_json: dict) -> None:
    props = _machine(template_json)["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"


def test_steps_run_in_order_retry_3_times_from_1s_doubling_and_wait_out_rate_limits(template_json: dict) -> None:
    states = _definition(_machine(template_json))["States"]
    order, name = [], _definition(_machine(template_json))["StartAt"]
    while name in states and states[name]["Type"] == "Task":
        order.append(name)
        name = states[name].get("Next")
    assert order == ["Inspect", "Metadata", "Variants", "Embed", "Index", "Complete"]
    for step in order:
        retry, limited = states[step]["Retry"]
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (1, 3, 2)
        assert "RetryableError" in retry["ErrorEquals"] and "NonRetryableError" not in retry["ErrorEquals"]
        assert limited["ErrorEquals"] == ["RateLimitedError"], "a rate-limited step waits for a slot"
        assert limited["MaxAttempts"] >= 10 and limited["MaxDelaySeconds"] == 60
        (catch,) = states[step]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and states[catch["Next"]]["Next"] == "Fail"


def test_only_the_starter_queues_worker_may_start_executions(template_json: dict) -> None:
    starters = [
        p
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if "states:StartExecution" in json.dumps(p["Properties"]["PolicyDocument"])
    ]
    assert len(starters) == 1
    assert any("QueueImagesWorkerRole" in json.dumps(r) for r in starters[0]["Properties"]["Roles"])
