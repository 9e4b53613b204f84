"""The local cloud runs the synthesized template: jobs flow through its wiring, end to end."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import OFFLOAD, ROOT, copy_assembly, start_local, stop_local


def _job(local, job_id):
    return json.loads(local.cli("jobs", "get", job_id, "--json").stdout)


def _wait(local, job_id, statuses=("completed", "failed", "cancelled"), timeout_s=45):
    deadline = time.time() + timeout_s
    while True:
        job = _job(local, job_id)
        if job["status"] in statuses:
            return job
        assert time.time() < deadline, f"job {job_id} still {job['status']} after {timeout_s}s"
        time.sleep(0.5)


def _add(local, type_name, data, *extra):
    out = local.cli("jobs", "add", type_name, "--data", json.dumps(data), *extra).stdout
    return json.loads(out)["jobId"]


def test_enqueued_job_reaches_its_worker_through_the_templates_event_source(local):
    job_id = _add(local, "diag.echo", {"hello": "local"})

    job = _wait(local, job_id)

    assert job["status"] == "completed" and job["result"] == {"hello": "local"}


def test_start_up_prints_no_known_moto_noise(local):
    assert "WaitConditionHandle" not in local.output_text()


def test_outputs_are_served_and_name_the_local_resources(local):
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)

    config = json.loads(outputs["ClientConfig"])
    assert set(config["queues"]) == {
        "default",
        "images",
        "images-reindex",
        "notifications",
        "maintenance",
        "moderation",
        "video",
        "generate",
        "payments",
    }
    sqs = local.client("sqs")
    assert sqs.get_queue_attributes(QueueUrl=config["queues"]["default"]["url"], AttributeNames=["All"])


def test_poison_message_lands_in_the_dlq_after_its_attempts_and_redrive_brings_it_back(local):
    outage_ends = time.time() + 6
    job_id = _add(local, "diag.flaky", {"fail_until": outage_ends}, "--attempts", "2")

    failed = _wait(local, job_id)
    assert failed["status"] == "failed" and failed["attempts"] == 2
    stats = {r["queue"]: r for r in json.loads(local.cli("queues", "stats", "--json").stdout)}
    assert stats["default"]["messages"]["dlq"] >= 1
    time.sleep(max(0.0, outage_ends + 0.5 - time.time()))

    local.cli("queues", "redrive", "default")

    assert _wait(local, job_id)["status"] == "completed"


def test_a_failing_record_is_retried_alone_while_its_batch_mates_complete_once(local):
    mates = [_add(local, "diag.echo", {"n": i}) for i in range(9)]
    flaky = _add(local, "diag.flaky", {"fail_times": 1}, "--attempts", "2")

    assert _wait(local, flaky)["attempts"] == 2
    for job_id in mates:
        job = _wait(local, job_id)
        assert (job["status"], job["attempts"]) == ("completed", 1)


def test_scheduled_rule_fires_through_offload_local_trigger(local):
    before = json.loads(local.cli("jobs", "list", "--queue", "maintenance", "--status", "completed", "--json").stdout)

    local.cli("local", "trigger", "daily-dlq-audit", "--endpoint-url", local.endpoint)

    deadline = time.time() + 30
    while True:
        after = json.loads(
            local.cli("jobs", "list", "--queue", "maintenance", "--status", "completed", "--json").stdout
        )
        if len(after) > len(before):
            break
        assert time.time() < deadline, "the triggered schedule produced no completed maintenance job"
        time.sleep(0.5)
    assert {j["type"] for j in after} == {"maintenance.dlq_audit"}


def test_dropping_an_event_source_from_the_template_stops_delivery(cdk_out, tmp_path):
    copy = copy_assembly(cdk_out, tmp_path / "assembly")
    template_path = copy / "Offload.template.json"
    template = json.loads(template_path.read_text())
    mappings = [
        lid
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::EventSourceMapping" and "QueueDefault" in lid and "Lane" not in lid
    ]
    sources = sum(r["Type"] == "AWS::Lambda::EventSourceMapping" for r in template["Resources"].values())
    assert len(mappings) == 1
    del template["Resources"][mappings[0]]
    template_path.write_text(json.dumps(template))
    broken = start_local(copy, tmp_path)
    try:
        assert f"{sources - 1} SQS event sources" in broken.output_text()
        stuck = _add(broken, "diag.echo", {"n": 1})
        routed = _add(broken, "maintenance.queue_report", {"period": "day"})
        assert _wait(broken, routed)["status"] == "completed", "the other queues still deliver"
        assert _job(broken, stuck)["status"] == "queued", "no event source, no delivery"
    finally:
        stop_local(broken)


def test_expired_job_records_are_swept_as_dynamodb_ttl_would(local):
    config = json.loads(
        json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)["ClientConfig"]
    )
    job_id = _add(local, "diag.echo", {"n": 1})
    _wait(local, job_id)
    ddb = local.client("dynamodb")
    ddb.update_item(
        TableName=config["table"],
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    deadline = time.time() + 10
    while ddb.get_item(TableName=config["table"], Key={"job_id": {"S": job_id}}).get("Item"):
        assert time.time() < deadline, "the expired record was not swept within 10 s (sweep every 1 s)"
        time.sleep(0.5)
    assert local.cli("jobs", "get", job_id, check=False).returncode == 1


def test_state_machine_from_the_template_runs_with_its_lambda_task_in_process(cdk_out, tmp_path):
    copy = copy_assembly(cdk_out, tmp_path / "assembly")
    template_path = copy / "Offload.template.json"
    template = json.loads(template_path.read_text())
    digest = "0" * 64
    assets_path = copy / "Offload.assets.json"
    assets = json.loads(assets_path.read_text())
    fixture = Path(__file__).parent / "fixtures" / "sfn_task"
    assets["files"][digest] = {"source": {"path": str(fixture), "packaging": "zip"}, "destinations": {}}
    assets_path.write_text(json.dumps(assets))
    template["Resources"]["DoubleFn"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": "double.handler",
            "Runtime": "python3.14",
            "Code": {"S3Bucket": "assets", "S3Key": f"{digest}.zip"},
            "Role": "arn:aws:iam::123456789012:role/any",
        },
    }
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "FUNCTION", "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    before, after = json.dumps(definition).split("FUNCTION")
    template["Resources"]["Pipeline"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "DefinitionString": {"Fn::Join": ["", [before, {"Ref": "DoubleFn"}, after]]},
            "RoleArn": "arn:aws:iam::123456789012:role/any",
        },
    }
    template["Outputs"]["PipelineArn"] = {"Value": {"Ref": "Pipeline"}}
    template_path.write_text(json.dumps(template))
    stack = start_local(copy, tmp_path)
    try:
        machines = sum(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
        assert f"{machines} state machines" in stack.output_text()
        outputs = json.loads(stack.cli("local", "outputs", "--endpoint-url", stack.endpoint).stdout)
        sfn = stack.client("stepfunctions")
        run = sfn.start_execution(stateMachineArn=outputs["PipelineArn"], input=json.dumps({"n": 21}))
        deadline = time.time() + 30
        while (described := sfn.describe_execution(executionArn=run["executionArn"]))["status"] == "RUNNING":
            assert time.time() < deadline, "the execution did not finish in 30 s"
            time.sleep(0.3)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"])["doubled"] == 42
    finally:
        stop_local(stack)


def test_high_priority_jobs_overtake_a_backlog_on_the_local_cloud(local):
    from offload.aws import Clients
    from offload.jobs.enqueue import enqueue, enqueue_many
    from offload.runtime import Runtime
    from offload.settings import Settings

    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    rt = Runtime(Settings.model_validate_json(outputs["ClientConfig"]), Clients(local.endpoint, "us-east-1"))
    low = enqueue_many("diag.sleep", [{"seconds": 0.5, "steps": 1}] * 40, priority=2, runtime=rt)
    high = [enqueue("diag.echo", {"n": i}, priority=9, runtime=rt) for i in range(3)]

    high_done = [_wait(local, j) for j in high]
    low_done_by_then = sum(rt.store.get(j).status.value == "completed" for j in low)

    assert all(j["status"] == "completed" for j in high_done)
    assert low_done_by_then < len(low) // 2, f"high waited for {low_done_by_then} of {len(low)} low-priority jobs"
    deadline = time.time() + 120
    while not all(rt.store.get(j).status.value == "completed" for j in low):
        assert time.time() < deadline, "the low-priority backlog did not complete"
        time.sleep(1)


def test_a_second_local_up_on_a_busy_port_exits_1_at_once_with_the_fix(tmp_path):
    # Given a port something is already listening on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When `offload local up` is started on it
        started = time.monotonic()
        done = subprocess.run(
            [OFFLOAD, "local", "up", "--port", str(port)], capture_output=True, text=True, timeout=60, cwd=ROOT
        )

    # Then it exits 1 at once, saying the port is taken and what to do
    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started < 20
    message = " ".join(done.stderr.split())
    assert f"port {port} on 127.0.0.1 is in use" in message
    assert "--port N" in message and "stop that one" in message
