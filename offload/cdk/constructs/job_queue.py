"""One catalog queue: SQS queue + DLQ, the worker Lambda that consumes it, and the DLQ depth alarm."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import CfnResource, Duration, Names, Size, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from offload.catalog import METRICS_NAMESPACE, CatalogError, QueueSpec
from offload.cdk.constructs.grants import (
    grant_consume,
    grant_objects,
    grant_queue_attributes,
    grant_secret_value,
    grant_send,
)
from offload.cdk.constructs.network import WORKER_SUBNETS
from offload.cdk.constructs.rate_limit_cache import RateLimitCache
from offload.cdk.constructs.runtime_layer import ARCHITECTURE, RUNTIME, BuiltLayer
from offload.cdk.constructs.table_grants import grant_read_write_items
from offload.cdk.layers import unzipped_bytes
from offload.cdk.nag import acknowledge

# The generic worker handler ships in the runtime layer; the code asset holds the app's own packages.
WORKER_HANDLER = "offload.handlers.worker.handler"
CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc"]
EMPTY_CODE_DIR = Path(__file__).resolve().parent / "empty_code"
# AWS's longest message retention: two weeks to inspect and redrive a failed job.
DLQ_RETENTION = Duration.days(14)
WORKER_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
ALARM_PERIOD = Duration.minutes(1)
# What AWSLambdaVPCAccessExecutionRole allows, inline like the log grant: Lambda manages the function's ENIs
# with the execution role. EC2's Describe* actions have no resource-level permissions, hence '*'.
VPC_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


def pascal(name: str) -> str:
    """`image-resize` -> `ImageResize`: a catalog name as a construct or output id."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


# Lambda refuses a function whose environment variables (names and values) exceed 4 KB in all.
LAMBDA_ENV_LIMIT = 4096
# What a deploy-time token (an ARN, a URL) is assumed to resolve to, at most.
TOKEN_ESTIMATE = 110
# A pseudo parameter: a region, an account id, a URL suffix.
PSEUDO_ESTIMATE = 20
# Resources CloudFormation names `<stack>-<logical id>-<random>` when the template gives no name (the random
# part is 12-13 characters; a longer name is cut to the service's limit), with that limit and the property
# that would name them instead.
GENERATED_NAMES = {
    "AWS::DynamoDB::Table": (255, "table_name"),
    "AWS::S3::Bucket": (63, "bucket_name"),
    "AWS::SQS::Queue": (80, "queue_name"),
}
GENERATED_SUFFIX = 15  # the two dashes and the random part


def check_environment_size(scope: Construct, environment: Mapping[str, str], what: str) -> int:
    """The environment's estimated deployed size; a CatalogError when it would pass Lambda's 4 KB.

    A generated name counts as long as CloudFormation can make it for this stack and logical id, any
    other token as TOKEN_ESTIMATE. moto never checks the limit, so without this a catalog with many
    queues synthesizes, runs locally and fails only at `cdk deploy`."""
    stack = Stack.of(scope)
    names = _generated_name_lengths(stack)
    size = sum(len(name) + _resolved_length(stack.resolve(value), names) for name, value in environment.items())
    if size > LAMBDA_ENV_LIMIT:
        raise CatalogError(
            f"{what}: its environment would be about {size} bytes, over Lambda's {LAMBDA_ENV_LIMIT}; every "
            "queue and lane adds its URLs to OFFLOAD_QUEUES: use fewer queues or lanes in the catalog"
        )
    return size


def _generated_name_lengths(stack: Stack) -> dict[str, int]:
    """Logical id -> the longest name the resource can get, for the GENERATED_NAMES types."""
    stack_name = stack.stack_name if not Token.is_unresolved(stack.stack_name) else "x" * 128
    out: dict[str, int] = {}
    for node in stack.node.find_all():
        if not isinstance(node, CfnResource) or node.cfn_resource_type not in GENERATED_NAMES:
            continue
        limit, prop = GENERATED_NAMES[node.cfn_resource_type]
        logical_id = str(stack.resolve(node.logical_id))
        given = stack.resolve(getattr(node, prop, None))  # an L2's physical name is a token, often of nothing
        length = (
            min(limit, len(stack_name) + len(logical_id) + GENERATED_SUFFIX)
            if given is None
            else _resolved_length(given, {})
        )
        out[logical_id] = length
    return out


def _resolved_length(value: object, names: Mapping[str, int]) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        sep, parts = value["Fn::Join"]
        return sum(_resolved_length(p, names) for p in parts) + len(sep) * max(len(parts) - 1, 0)
    if isinstance(value, dict) and value.get("Fn::GetAtt", [None, None])[1:] == ["QueueName"]:
        return names.get(value["Fn::GetAtt"][0], GENERATED_NAMES["AWS::SQS::Queue"][0])
    if isinstance(value, dict) and str(value.get("Ref", "")).startswith("AWS::"):
        return PSEUDO_ESTIMATE
    if isinstance(value, dict) and value.get("Ref") in names:  # a table's or bucket's name
        return names[value["Ref"]]
    if isinstance(value, dict | list):
        return TOKEN_ESTIMATE
    return len(str(value))


# Lambda refuses a function whose code and layers together exceed 250 MB (MiB) unzipped.
LAMBDA_UNZIPPED_LIMIT = 262_144_000
MB = 1_000_000


@dataclass(frozen=True)
class PackageSize:
    """What one function takes unzipped on Lambda: its code asset and each of its layers, in bytes."""

    function: str
    parts: tuple[tuple[str, int], ...]  # ("code", n), (layer, n), ...

    @property
    def total(self) -> int:
        """Code plus every layer."""
        return sum(size for _, size in self.parts)

    def describe(self) -> str:
        """`code 0.0 MB + RuntimeLayer 51.3 MB + ... = 256.7 MB`."""
        parts = " + ".join(f"{name} {size / MB:.1f} MB" for name, size in self.parts)
        return f"{parts} = {self.total / MB:.1f} MB"


def check_package_size(
    scope: Construct, what: str, code: lambda_.Code, layers: Sequence[lambda_.ILayerVersion]
) -> PackageSize:
    """The function's code plus layers unzipped; a CatalogError when that passes Lambda's 250 MB.

    moto never checks the limit either: without this a catalog synthesizes, runs locally and fails only
    at `cdk deploy` (or, for a layer, when the function is created)."""
    parts = [("code", _code_bytes(code, what))]
    for layer in layers:
        if not isinstance(layer, BuiltLayer):
            raise CatalogError(
                f"{what}: layer {layer.node.path} was not built by offload (a BuiltLayer), so its size is unknown "
                "and the 250 MB check can't be made: build it with offload.cdk.constructs.runtime_layer.layer_version"
            )
        parts.append(("/".join(layer.node.path.split("/")[1:-1]) or layer.node.id, layer.unzipped_bytes))
    size = PackageSize(what, tuple(parts))
    if size.total > LAMBDA_UNZIPPED_LIMIT:
        largest = max(size.parts, key=lambda part: part[1])[0]
        raise CatalogError(
            f"{what}: code plus layers would be {size.describe()} unzipped, over Lambda's limit of "
            f"{LAMBDA_UNZIPPED_LIMIT:,} bytes ({LAMBDA_UNZIPPED_LIMIT / MB:.1f} MB); make {largest} smaller: fewer "
            "requirements in offload:appRequirements, fewer packages in offload:codePackages, or leave the pack "
            "that adds the largest layer out of the catalog"
        )
    return size


def _code_bytes(code: lambda_.Code, what: str) -> int:
    if isinstance(code, lambda_.AssetCode):
        return unzipped_bytes(Path(code.path))
    if isinstance(code, lambda_.InlineCode):
        return 0  # at most 4 KB, inline in the template
    raise CatalogError(
        f"{what}: its code is a {type(code).__name__}, whose size can't be checked at synth against Lambda's "
        "250 MB: give the stack an asset directory (lambda_.Code.from_asset)"
    )


def check_every_function_sized(stack: Stack) -> None:
    """Every Lambda function of the stack was built by `offload_function`, so its size was checked."""
    for construct in stack.node.find_all():
        if (
            isinstance(construct, CfnResource)
            and construct.cfn_resource_type == "AWS::Lambda::Function"
            and not isinstance(construct.node.scope, OffloadFunction)
        ):
            raise CatalogError(
                f"Lambda function {construct.node.path} was not built with offload_function, so its code plus "
                "layers were not checked against Lambda's 250 MB: build it with "
                "offload.cdk.constructs.job_queue.offload_function"
            )


def offload_function(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    handler: str,
    code: lambda_.Code,
    layers: Sequence[lambda_.ILayerVersion],
    timeout: Duration,
    memory_mb: int,
    log_level: lambda_.ApplicationLogLevel,
    log_group: logs.ILogGroup,
    role: iam.IRole,
    environment: Mapping[str, str],
    cache: RateLimitCache | None,
    ephemeral_storage_mb: int | None = None,
) -> OffloadFunction:
    """A function of the stack (a worker, a pipeline step): the runtime and architecture the layers are
    built for, active tracing, JSON logs, and the cache's VPC when it takes a shared limit.

    Its code plus layers are checked against Lambda's 250 MB unzipped (a CatalogError when over);
    the result is its `package_size`."""
    size = check_package_size(scope, f"function {scope.node.path}/{construct_id}", code, layers)
    return OffloadFunction(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=code,
        layers=list(layers),
        timeout=timeout,
        memory_size=memory_mb,
        tracing=lambda_.Tracing.ACTIVE,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=log_level,
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        log_group=log_group,
        role=role,
        environment=dict(environment),
        vpc=cache.vpc if cache else None,
        vpc_subnets=WORKER_SUBNETS if cache else None,
        security_groups=[cache.client_security_group] if cache else None,
        ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb) if ephemeral_storage_mb else None,
        package_size=size,
    )


class OffloadFunction(lambda_.Function):
    """A lambda_.Function that carries its checked `package_size` (what `offload_function` returns)."""

    def __init__(self, scope: Construct, construct_id: str, *, package_size: PackageSize, **props: Any) -> None:
        super().__init__(scope, construct_id, **props)
        self.package_size = package_size


def empty_code() -> lambda_.Code:
    """The code asset of an app with no packages of its own (its catalog composes built-in packs only)."""
    return lambda_.Code.from_asset(str(EMPTY_CODE_DIR), exclude=CODE_EXCLUDES)


@dataclass(frozen=True)
class JobAccess:
    """The shared job resources a function that runs or finishes jobs uses (a worker, or a pack's step that
    finishes a handed-off job: offload.jobs.handoff), and the one way to grant them."""

    table: dynamodb.ITable
    bus: events.IEventBus
    topic: sns.ITopic
    bucket: s3.IBucket
    secret: secretsmanager.ISecret
    queues: Sequence[JobQueue]

    def grant(self, role: iam.IGrantable) -> None:
        """Job records, every queue (jobs enqueue jobs; exhausted messages are dead-lettered by the
        function itself), events, alerts, the webhook secret, payloads (offload/jobs/enqueue.py puts and
        gets them, and tells a missing one by its NoSuchKey: see grants.BUCKET_ACTIONS)."""
        grant_read_write_items(self.table, role)
        for queue in self.every_queue:
            grant_send(queue, role)
        self.bus.grant_put_events_to(role)
        self.topic.grant_publish(role)
        grant_secret_value(self.secret, role)
        grant_objects(self.bucket, role, read=True, write=True, list_=True)

    @property
    def every_queue(self) -> list[sqs.Queue]:
        """Every catalog queue, its priority lanes and its DLQ."""
        return [queue for other in self.queues for queue in (*other.all_queues, other.dlq)]

    def grant_queue_counts(self, role: iam.IGrantable) -> None:
        """Read every queue's attributes: /health, the admin routes and the maintenance reports count their
        messages (offload/jobs/queues.py depth), pause and resume look their ARNs up (offload/jobs/admin.py)."""
        for queue in self.every_queue:
            grant_queue_attributes(queue, role)

    def acknowledge_wildcards(self, role: iam.Role, *, in_vpc: bool) -> None:
        """The wildcards cdk-nag (IAM5) finds in such a policy, each acknowledged with why it stays."""
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        table = _logical_id(self.table)
        bucket = _logical_id(self.bucket)
        findings = {
            "Resource::*": "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions; "
            "active tracing needs them on '*'."
            + (
                " The function runs in the VPC: Lambda manages its ENIs with the EC2 network-interface actions "
                "of AWSLambdaVPCAccessExecutionRole, whose Describe* calls have no resource-level permissions."
                if in_vpc
                else ""
            ),
            f"Resource::<{table}.Arn>/index/*": "Jobs are queried through the jobs table's GSI (by-queue-status); "
            "the grant covers the table's own indexes and nothing else.",
            f"Resource::<{bucket}.Arn>/*": "Job payloads and results are objects keyed by job id, unknown at "
            "deploy time; the grant covers objects in the payload bucket only.",
            "Action::kms:GenerateDataKey*": "Publishing to the KMS-encrypted alert topic needs "
            "GenerateDataKey (SNS picks the variant); the grant is on the alert topic's key only.",
        }
        for finding, reason in findings.items():
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


@dataclass(frozen=True)
class WorkerRuntime:
    """What every worker shares: code, layer, environment and the resources it is granted."""

    code: lambda_.Code
    layers: Sequence[lambda_.ILayerVersion]
    environment: Mapping[str, str]
    log_level: lambda_.ApplicationLogLevel
    access: JobAccess
    # Only queues with a catalog rate limit use it (and so run in its VPC); None when no queue has one.
    rate_limit_cache: RateLimitCache | None = None


class JobQueue(Construct):
    """A catalog queue and its DLQ; `add_worker` adds the consumer once every queue exists."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: QueueSpec, alert_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = self._queue("Queue")
        # Priority lanes: one more queue each (same DLQ), consumed by the same worker with its own concurrency.
        self.lanes = {lane.name: self._queue(f"Lane{pascal(lane.name)}Queue") for lane in spec.extra_lanes}
        self.dlq_alarm = self.dlq.metric_approximate_number_of_messages_visible(
            period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        ).create_alarm(
            self,
            "DlqDepthAlarm",
            alarm_description=f"offload queue {spec.name!r}: jobs in the dead-letter queue; inspect and redrive them",
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dlq_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alert_topic))
        self.worker: lambda_.Function | None = None

    def _queue(self, construct_id: str) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            visibility_timeout=Duration.seconds(self.spec.visibility_timeout_s),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # The worker moves a job to the DLQ itself when its attempts are used up; the redrive policy
            # catches messages whose worker died before it could decide.
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=self.spec.max_receive_count),
        )

    @property
    def all_queues(self) -> list[sqs.Queue]:
        """The queue and its priority lanes (not the DLQ)."""
        return [self.queue, *self.lanes.values()]

    def add_worker(
        self, runtime: WorkerRuntime, *, shared_limits: bool = False, extra_environment: Mapping[str, str] | None = None
    ) -> lambda_.Function:
        """The Lambda that consumes this queue, with exactly the grants a worker needs.

        A queue with a catalog `rate_limit` gets a worker in the cache's VPC, with OFFLOAD_REDIS_* and the
        AUTH token; every other worker stays out of the VPC (no NAT traffic, no ENIs, faster cold starts).
        """
        spec = self.spec
        limited = spec.rate_limit is not None or shared_limits
        cache = runtime.rate_limit_cache if limited else None
        if limited and cache is None:
            raise ValueError(
                f"queue {spec.name!r} takes a rate limit (its own, or its pack's shared limits) but the "
                "WorkerRuntime has no "
                "rate_limit_cache; create a RateLimitCache and pass it as rate_limit_cache="
            )
        log_group = logs.LogGroup(self, "WorkerLogs", retention=WORKER_LOG_RETENTION)
        role = iam.Role(
            self,
            "WorkerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"offload worker for queue {spec.name}",
        )
        # Instead of AWSLambdaBasicExecutionRole (any log group): only this function's own.
        log_group.grant_write(role)
        if cache is not None:
            role.add_to_policy(iam.PolicyStatement(actions=VPC_ENI_ACTIONS, resources=["*"]))
        environment = {
            **runtime.environment,
            **(extra_environment or {}),
            **(cache.environment if cache else {}),
            "OFFLOAD_QUEUE": spec.name,
        }
        self.environment_bytes = check_environment_size(self, environment, f"the worker of queue {spec.name!r}")
        worker = offload_function(
            self,
            "Worker",
            description=f"offload worker for queue {spec.name}",
            handler=WORKER_HANDLER,
            code=runtime.code,
            layers=runtime.layers,
            timeout=Duration.seconds(spec.timeout_s),
            memory_mb=spec.memory_mb,
            log_level=runtime.log_level,
            log_group=log_group,
            role=role,
            environment=environment,
            cache=cache,
        )
        runtime.access.grant(role)
        if cache is not None:
            cache.grant_connect(role)
        lanes = [(self.queue, spec.base_lane.concurrency)] + [
            (self.lanes[lane.name], lane.concurrency) for lane in spec.extra_lanes
        ]
        for queue, concurrency in lanes:
            # What SqsEventSource makes (under its id, so the mapping keeps its logical id), with the grant
            # written out: its grant_consume_messages adds GetQueueUrl, which neither Lambda nor offload calls.
            worker.add_event_source_mapping(
                f"SqsEventSource:{Names.node_unique_id(queue.node)}",
                event_source_arn=queue.queue_arn,
                batch_size=spec.batch_size,
                max_concurrency=concurrency,
                report_batch_item_failures=True,
            )
            grant_consume(queue, role)
        if cache is not None:
            self.limiter_alarm = self._limiter_unavailable_alarm(runtime.access.topic)
        runtime.access.acknowledge_wildcards(role, in_vpc=cache is not None)
        self.worker = worker
        return worker

    def _limiter_unavailable_alarm(self, topic: sns.ITopic) -> cloudwatch.Alarm:
        """Jobs deferred because Redis could not be asked (the worker's RateLimiterUnavailable metric)."""
        alarm = cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name="RateLimiterUnavailable",
            dimensions_map={"queue": self.spec.name},
            period=ALARM_PERIOD,
            statistic=cloudwatch.Stats.SUM,
        ).create_alarm(
            self,
            "RateLimiterUnavailableAlarm",
            alarm_description=f"offload queue {self.spec.name!r}: the rate-limit cache could not be reached; "
            "jobs are being deferred (none fail), check the cache and the workers' network",
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        return alarm


def _logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2's resource, as cdk-nag spells it in findings."""
    cfn = construct.node.default_child
    assert isinstance(cfn, CfnResource)
    stack = Stack.of(cfn)
    return str(stack.resolve(stack.get_logical_id(cfn)))
