"""Canaries: moto behaviours offload relies on. A moto upgrade that changes one fails here, by name."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from offload.testing.aws import REGION, create_jobs_table


def test_moto_returns_the_old_item_when_a_conditional_write_is_refused(aws):
    """JobStore.create and JobStore.start read the refused item from the error (no extra GetItem)."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_jobs_table(ddb, "canary")
    ddb.put_item(TableName="canary", Item={"job_id": {"S": "1"}, "status": {"S": "completed"}})

    with pytest.raises(ClientError) as err:
        ddb.put_item(
            TableName="canary",
            Item={"job_id": {"S": "1"}, "status": {"S": "queued"}},
            ConditionExpression="attribute_not_exists(job_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert err.value.response.get("Item", {}).get("status") == {"S": "completed"}, (
        "moto no longer returns Item on ConditionalCheckFailed: JobStore.create/start need a GetItem fallback"
    )


def test_moto_cloudformation_serves_outputs_of_a_marker_stack(aws):
    """The local cloud registers the stack outputs this way so `describe_stacks` works for the CLI."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    body = {
        "Resources": {"LocalMarker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"ClientConfig": {"Value": json.dumps({"table": "t"})}},
    }
    cfn.create_stack(StackName="Canary", TemplateBody=json.dumps(body))

    outputs = cfn.describe_stacks(StackName="Canary")["Stacks"][0]["Outputs"]

    assert outputs == [{"OutputKey": "ClientConfig", "OutputValue": '{"table": "t"}'}]


def test_moto_sqs_hides_a_message_for_the_visibility_set_after_receipt(aws):
    """Retries with backoff rely on ChangeMessageVisibility keeping the message away for that long."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="canary")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    [msg] = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=1)

    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    time.sleep(1.1)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["x"]


def test_moto_lambda_backend_still_has_the_method_the_local_cloud_replaces():
    """offload/local/sfn.py routes Step Functions' Lambda tasks by replacing this method."""
    import inspect

    from moto.awslambda.models import LambdaFunction

    from offload.local.sfn import PATCHED_ATTRIBUTE

    method = getattr(LambdaFunction, PATCHED_ATTRIBUTE, None)
    assert method is not None, f"moto.awslambda.models.LambdaFunction.{PATCHED_ATTRIBUTE} is gone: fix local/sfn.py"
    assert list(inspect.signature(method).parameters) == ["self", "event"], (
        f"LambdaFunction.{PATCHED_ATTRIBUTE} changed its signature: fix local/sfn.py"
    )


def test_moto_step_functions_executor_still_has_what_the_stop_fix_wraps():
    """offload.local.sfn.keep_stopped_executions_aborted wraps these two; a rename breaks it by name here."""
    import inspect

    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    assert list(inspect.signature(Execution.stop).parameters) == ["self", "stop_date", "error", "cause"]
    assert callable(getattr(BaseExecutionWorkerCommunication, "_reflect_execution_status", None))


def test_moto_config_still_has_the_step_functions_execution_switch():
    """The local cloud turns moto's state machine execution on through /moto-api/config."""
    from moto.core.config import default_user_config

    assert default_user_config["stepfunctions"]["execute_state_machine"] is False


def test_moto_delivers_to_an_enabled_mapping_unless_the_local_cloud_stops_it(aws):
    """The local cloud creates event source mappings in moto (pause/resume flip them) and stops moto from
    delivering through them by itself (offload.local.sqs_events.stop_moto_delivering)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    from offload.local.provision import register_functions
    from offload.local.sqs_events import stop_moto_delivering

    sqs = boto3.client("sqs", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)
    register_functions(lambda service: boto3.client(service, region_name=REGION), ["worker"])
    queues = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues

    def mapped_queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="worker", BatchSize=1)
        return url, name

    _, plain = mapped_queue("moto-delivers")
    assert queues[plain].lambda_event_source_mappings, (
        "moto no longer records mappings on the queue: check how it delivers before dropping the patch"
    )
    undo = stop_moto_delivering()
    try:
        url, stopped = mapped_queue("local-cloud-delivers")
        assert queues[stopped].lambda_event_source_mappings == {}
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert [m["Attributes"]["ApproximateReceiveCount"] for m in got] == ["1"]  # nobody received it before
    finally:
        undo()
    assert "lambda_event_source_mappings" not in vars(type(queues[plain]))
    assert queues[stopped].lambda_event_source_mappings == {}, "a queue made while patched works after the undo"


def test_moto_still_lacks_s3_vectors_query_vectors_so_the_local_shim_is_needed():
    """moto 5.2.5 stores vector buckets, indexes and vectors but has no QueryVectors; the local cloud adds it
    (offload.local.s3vectors_query). When this fails, moto answers QueryVectors itself: drop the shim.

    Checked on moto's routes and handlers rather than by calling it: an unrouted call would go to the network."""
    from moto.s3vectors import urls
    from moto.s3vectors.models import S3VectorsBackend
    from moto.s3vectors.responses import S3VectorsResponse

    from offload.local import s3vectors_query

    native_routes = [path for path in urls.url_paths if path != s3vectors_query._PATH]
    assert not any("QueryVectors" in path for path in native_routes), "moto routes QueryVectors now"
    assert vars(S3VectorsResponse).get("query_vectors") in (None, s3vectors_query._query_vectors)
    assert not hasattr(S3VectorsBackend, "query_vectors"), "moto's backend can query vectors now"
    assert {"PutVectors", "GetVectors", "ListVectors", "DeleteVectors"} <= {
        path.split("/")[-1].rstrip("$") for path in native_routes
    }, "moto dropped a vectors operation the local cloud relies on"
