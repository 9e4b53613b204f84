"""The local cloud's event source mappings: created in the endpoint's Lambda API from the template, never acted
on by moto itself, and read (cheaply) by the pollers so that pause and resume hold and release delivery."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from offload.local.cloud import LocalCloud, free_port
from offload.local.provision import Provisioner, register_functions
from offload.local.sqs_events import MappingState
from offload.local.template import Template
from offload.testing.aws import REGION


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _mapped_queue(client: Callable[[str], Any], name: str, **mapping: Any) -> tuple[str, str]:
    """A queue with an enabled mapping to a placeholder function `worker`: its URL and the mapping's UUID."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    uuid = client("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName="worker", **mapping)["UUID"]
    return url, str(uuid)


def _template(*, enabled: Any) -> Template:
    worker = {"Handler": "worker.handler", "Role": "arn:aws:iam::123456789012:role/any", "Code": {}}
    return Template(
        stack_name="Esm",
        body={
            "Resources": {
                "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {}},
                "Worker": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "worker", **worker}},
                "WorkerJobs": {
                    "Type": "AWS::Lambda::EventSourceMapping",
                    "Properties": {
                        "EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]},
                        "FunctionName": {"Ref": "Worker"},
                        "BatchSize": 3,
                        "MaximumBatchingWindowInSeconds": 2,
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        "ScalingConfig": {"MaximumConcurrency": 2},
                        "Enabled": enabled,
                    },
                },
                # It names a function the template does not have: no mapping, no error (the cloud lists it at start).
                "Orphan": {
                    "Type": "AWS::Lambda::EventSourceMapping",
                    "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]}, "FunctionName": "missing"},
                },
            }
        },
        assets_dir=Path("/nonexistent"),
    )


@pytest.mark.parametrize("enabled", [False, "false"])
def test_the_provisioner_creates_each_mapping_in_the_lambda_api_with_the_templates_settings(aws, enabled):
    provisioned = Provisioner(_template(enabled=enabled), _client).run()

    source, orphan = provisioned.event_sources
    assert source.uuid is not None and orphan.uuid is None
    got = _client("lambda").get_event_source_mapping(UUID=source.uuid)
    expected = {
        "BatchSize": 3,
        "MaximumBatchingWindowInSeconds": 2,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": 2},
    }
    assert {key: got[key] for key in expected} == expected
    assert got["State"] == "Disabled" and source.enabled is False
    assert got["FunctionArn"].endswith(":function:worker") and got["EventSourceArn"] == source.queue_arn
    assert [m["UUID"] for m in _client("lambda").list_event_source_mappings()["EventSourceMappings"]] == [source.uuid]
    assert provisioned.resolver.refs["WorkerJobs"] == source.uuid  # what Ref gives on AWS


@pytest.mark.parametrize("server_mode", ["process", "thread"])
def test_the_local_clouds_moto_server_never_delivers_through_a_mapping_by_itself(server_mode, monkeypatch):
    """Unpatched, moto receives the message inside SendMessage to invoke the mapped function (through Docker;
    it fails and the message comes back with ApproximateReceiveCount 2). The local cloud's server, in its own
    process (offload.local.moto_server) or in this one, leaves that to the cloud's pollers."""
    monkeypatch.setenv("MOTO_PORT", "")  # _start_server sets it; restored after the test
    cloud = LocalCloud(port=free_port(), server_mode=server_mode)
    cloud._start_server()
    try:
        register_functions(cloud.client, ["worker"])
        url, _ = _mapped_queue(cloud.client, "held", BatchSize=1)
        sqs = cloud.client("sqs")
        sqs.send_message(QueueUrl=url, MessageBody="{}")

        got = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert [m["Attributes"]["ApproximateReceiveCount"] for m in got] == ["1"], "moto received it first"
    finally:
        cloud.stop()
    from moto.sqs.models import Queue

    assert "lambda_event_source_mappings" not in vars(Queue), "stopping the cloud undoes the in-process patch"


def test_a_sources_pollers_share_one_read_of_the_mapping_state_per_period(aws):
    register_functions(_client, ["worker"])
    _, uuid = _mapped_queue(_client, "jobs")
    lam = _client("lambda")
    reads: list[str] = []
    lam.meta.events.register("before-call.lambda.GetEventSourceMapping", lambda **_: reads.append("read"))
    state = MappingState(lam, uuid, every_s=1.0)

    with ThreadPoolExecutor(8) as pollers:  # many pollers asking before every receive
        assert all(pollers.map(lambda _: state.enabled(), range(200)))
    assert len(reads) == 1

    lam.update_event_source_mapping(UUID=uuid, Enabled=False)  # `offload queues pause`
    time.sleep(1.0)
    assert [state.enabled() for _ in range(50)] == [False] * 50 and len(reads) == 2

    lam.update_event_source_mapping(UUID=uuid, Enabled=True)  # `offload queues resume`
    time.sleep(1.0)
    assert state.enabled() and len(reads) == 3
