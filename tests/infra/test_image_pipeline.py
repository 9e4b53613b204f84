"""The image pipeline in the template: a Standard state machine with retries and a catch, started by its queue's
worker only. (The uploads' S3 -> SQS wiring is the media bucket's: test_media_bucket.py.)"""

from __future__ import annotations

import json

from tests.infra.conftest import resources_of


def _machine(template_json: dict) -> dict:
    (machine,) = (
        m for lid, m in resources_of(template_json, "AWS::StepFunctions::StateMachine").items() if "ImagesPack" in lid
    )
    return machine


def _definition(machine: dict) -> dict:
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "X" for p in parts))


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
    # The catalog has the moderation pack, so the pipeline moderates each upload first (see test_moderation.py).
    assert order == ["Inspect", "Moderate", "Metadata", "Variants", "Embed", "Index", "Complete"]
    for step in order:
        retry, limited = states[step]["Retry"]
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (1, 3, 2)
        assert "RetryableError" in retry["ErrorEquals"] and "NonRetryableError" not in retry["ErrorEquals"]
        assert limited["ErrorEquals"] == ["RateLimitedError"], "a rate-limited step waits for a slot"
        assert limited["MaxAttempts"] >= 10 and limited["MaxDelaySeconds"] == 60
        (catch,) = states[step]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and states[catch["Next"]]["Next"] == "Fail"


def test_only_the_starter_queues_worker_may_start_executions(template_json: dict) -> None:
    (machine_id,) = (
        lid for lid in resources_of(template_json, "AWS::StepFunctions::StateMachine") if "ImagesPack" in lid
    )
    starters = [
        p
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "states:StartExecution" in json.dumps(s["Action"]) and machine_id in json.dumps(s["Resource"])
    ]
    assert len(starters) == 1
    assert any("QueueImagesWorkerRole" in json.dumps(r) for r in starters[0]["Properties"]["Roles"])
