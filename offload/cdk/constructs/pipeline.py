"""What the packs' pipelines share: Lambda step tasks with offload's retry policy, the catch that
records the failed step, the Standard state machine, and the cdk-nag acknowledgements they all need.

A step task sends `{"step": <name>, "state": <the execution's state>}` to its function and passes on
the function's result (`$.Payload`): the images and video packs' handlers dispatch on `step`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from offload.cdk.constructs.grants import grant_secret_values
from offload.cdk.constructs.job_queue import VPC_ENI_ACTIONS, _logical_id
from offload.cdk.nag import acknowledge
from offload.errors import NonRetryableError, RateLimitedError, RetryableError

RETRY_ERRORS = [
    RetryableError.__name__,
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
assert NonRetryableError.__name__ not in RETRY_ERRORS
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def step_task(
    scope: Construct,
    construct_id: str,
    *,
    function: lambda_.IFunction,
    step: str | None,
    retry: bool = True,
    result_path: str | None = None,
) -> tasks.LambdaInvoke:
    """Invoke `function` with `{"step": step, "state": $}`, or with `$` as it is when `step` is None (a Map
    item the item selector already built as {"step", "state"}); the output is the function's result."""
    payload = (
        sfn.TaskInput.from_object({"step": step, "state": sfn.JsonPath.object_at("$")})
        if step is not None
        else sfn.TaskInput.from_json_path_at("$")
    )
    task = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=payload,
        output_path="$.Payload",
        result_path=result_path,
        retry_on_service_exceptions=False,
    )
    if retry:
        add_step_retries(task)
    return task


def add_step_retries(state: tasks.LambdaInvoke) -> None:
    """1 s, 2 s, 4 s for retryable errors (NonRetryableError never), and waiting out a shared limit."""
    state.add_retry(errors=RETRY_ERRORS, interval=Duration.seconds(1), max_attempts=3, backoff_rate=2)
    # No slot under a shared limit: wait for one (a Standard execution waits for free), up to
    # about 15 minutes, instead of failing the item.
    state.add_retry(
        errors=[RateLimitedError.__name__],
        interval=Duration.seconds(6),
        max_attempts=20,
        backoff_rate=1.5,
        max_delay=Duration.seconds(60),
    )


def catch_into(
    scope: Construct,
    state: tasks.LambdaInvoke | sfn.Map,
    step: str,
    fail: sfn.IChainable,
    *,
    name: str | None = None,
) -> None:
    """Any error of `state` -> `$.error`, then a Pass `<name>Failed` sets `$.failed_step` and goes to `fail`.

    `name`: the state's name, when it isn't its construct id."""
    mark = sfn.Pass(
        scope, f"{name or state.node.id}Failed", result=sfn.Result.from_string(step), result_path="$.failed_step"
    )
    mark.next(fail)
    state.add_catch(mark, errors=["States.ALL"], result_path="$.error")


def standard_state_machine(
    scope: Construct, definition: sfn.IChainable, *, timeout: Duration, functions: Sequence[lambda_.IFunction]
) -> sfn.StateMachine:
    """A Standard state machine with X-Ray tracing and every execution event logged."""
    log_group = logs.LogGroup(scope, "ExecutionLogs", retention=LOG_RETENTION)
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
    )
    policy = machine.role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, CfnResource)
    for function in functions:
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(function)}.Arn>:*]",
            "lambda:InvokeFunction on the step function's versions and aliases (ARN:*), as LambdaInvoke grants; "
            "it names this one function only.",
        )
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "Execution logging (logs:CreateLogDelivery and friends) and X-Ray tracing have no resource-level "
        "permissions; Step Functions needs them on '*'.",
    )
    return machine


def acknowledge_step_grants(role: iam.Role, media: s3.IBucket, objects: str, *, in_vpc: bool) -> None:
    """The wildcards cdk-nag finds in a step function's policy (media bucket objects, the alert topic,
    X-Ray), each acknowledged with why it stays. `objects`: what the step's media objects are."""
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, CfnResource)
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::<{_logical_id(media)}.Arn>/*]",
        f"{objects} are objects keyed by upload key, unknown at deploy time; the grant covers objects in the "
        "media bucket only.",
    )
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "Publishing the failure alert to the KMS-encrypted topic needs GenerateDataKey; the grant is on "
        "the alert topic's key only.",
    )
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions"
        + ("; in the VPC, the EC2 network-interface Describe* actions have none either." if in_vpc else "."),
    )


def grant_start_and_stop(machine: sfn.StateMachine, role: iam.IGrantable, what: str) -> None:
    """A starter job's grants: start executions, and stop one (a cancel between registering and starting)."""
    machine.grant_start_execution(role)
    grant_stop(machine, role, what)


def grant_stop(machine: sfn.StateMachine, role: iam.IGrantable, what: str) -> None:
    """Stopping the machine's executions (a cancel), with cdk-nag's finding on their ARN acknowledged."""
    machine.grant_execution(role, "states:StopExecution")
    policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
    if isinstance(policy, CfnResource):
        execution = (
            "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{_logical_id(machine)}"}}]}}]}}:*'
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{execution}]",
            "StopExecution applies to executions, named per object version at run time; the grant covers "
            f"executions of the {what} state machine only.",
        )


def acknowledge_media_objects(role: iam.IGrantable, media: s3.IBucket, why: str) -> None:
    """cdk-nag's finding on `<media bucket>/*` in the role's policy, acknowledged with `why`."""
    policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
    if isinstance(policy, CfnResource):
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::<{_logical_id(media)}.Arn>/*]", why)


def records_table(
    scope: Construct,
    construct_id: str,
    *,
    partition_key: str = "key",
    sort_key: str | None = None,
    ttl_attribute: str | None = None,
) -> dynamodb.Table:
    """A pack's records table (by default partition key `key`, as `offload.media.records.MediaStore` uses it;
    the payments and social packs' tables are `pk`/`sk`): on demand, encrypted, with point-in-time recovery;
    records expire on `ttl_attribute` when given."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=ttl_attribute,
    )


def step_environment(
    role: iam.Role,
    environment: Mapping[str, str],
    *,
    cache: Any,
    ai_key_secret_arn: str | None,
    secret_arns: Sequence[str] = (),
) -> dict[str, str]:
    """A pack step function's environment and the grants that go with it: the rate-limit cache's variables
    and VPC ENI actions (when `cache` is given), the stack's AI key secret (OFFLOAD_AI_API_KEY_SECRET_ARN)
    and any other secrets the steps read."""
    env = {**environment, **(cache.environment if cache is not None else {})}
    if ai_key_secret_arn:
        env["OFFLOAD_AI_API_KEY_SECRET_ARN"] = ai_key_secret_arn
    grant_secret_values(role, [a for a in (ai_key_secret_arn, *secret_arns) if a])
    if cache is not None:
        role.add_to_policy(iam.PolicyStatement(actions=VPC_ENI_ACTIONS, resources=["*"]))
    return env
