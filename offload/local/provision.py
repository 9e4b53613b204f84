"""Create a template's resources on a local AWS endpoint (the moto server), in dependency order.

One function per resource type; each returns the physical id (what `Ref` gives) and the
attributes `Fn::GetAtt` can ask for. Types with no local effect (IAM, alarms, log groups,
policies) are recorded as skipped and listed once at start.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from offload.local.template import ACCOUNT, REGION, Resolver, Template, TemplateError

if TYPE_CHECKING:
    from offload.local.api import HttpApiSpec

# Accepted and ignored locally: nothing here changes how jobs flow on one machine.
NO_LOCAL_EFFECT = {
    "AWS::IAM::Role": "IAM is not enforced locally",
    "AWS::IAM::Policy": "IAM is not enforced locally",
    "AWS::IAM::ManagedPolicy": "IAM is not enforced locally",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced locally",
    "AWS::SNS::TopicPolicy": "resource policies are not enforced locally",
    "AWS::S3::BucketPolicy": "resource policies are not enforced locally",
    "AWS::S3Vectors::VectorBucketPolicy": "resource policies are not enforced locally",
    "AWS::KMS::Key": "encryption at rest is not emulated",
    "AWS::KMS::Alias": "encryption at rest is not emulated",
    "AWS::Logs::LogGroup": "function logs go to the local log file",
    "AWS::CloudWatch::Alarm": "alarms are not evaluated locally",
    "AWS::CloudWatch::Dashboard": "dashboards are not rendered locally",
    "AWS::Lambda::LayerVersion": "layers are importable from the checkout",
    "AWS::Lambda::Permission": "invoke permissions are not enforced locally",
    "AWS::CDK::Metadata": "CDK bookkeeping",
    "AWS::EC2::VPC": "networking is not emulated",
    "AWS::EC2::Subnet": "networking is not emulated",
    "AWS::EC2::SecurityGroup": "networking is not emulated",
    "AWS::ElastiCache::ServerlessCache": "Redis is a local redis-server (or REDIS_URL)",
    "AWS::ElastiCache::ReplicationGroup": "Redis is a local redis-server (or REDIS_URL)",
    "AWS::ElastiCache::ParameterGroup": "Redis is a local redis-server (or REDIS_URL)",
    "AWS::ElastiCache::SubnetGroup": "networking is not emulated",
    "AWS::EC2::VPCEndpoint": "networking is not emulated",
    "AWS::EC2::NatGateway": "networking is not emulated",
    "AWS::EC2::EIP": "networking is not emulated",
    "AWS::EC2::InternetGateway": "networking is not emulated",
    "AWS::EC2::VPCGatewayAttachment": "networking is not emulated",
    "AWS::EC2::RouteTable": "networking is not emulated",
    "AWS::EC2::Route": "networking is not emulated",
    "AWS::EC2::SubnetRouteTableAssociation": "networking is not emulated",
    "AWS::EC2::SecurityGroupIngress": "networking is not emulated",
    "AWS::EC2::SecurityGroupEgress": "networking is not emulated",
    "AWS::EC2::FlowLog": "networking is not emulated",
    "AWS::SES::ConfigurationSetEventDestination": "moto emits no SES delivery events (docs/notifications.md)",
}


@dataclass
class FunctionSpec:
    """A Lambda function the local cloud runs in-process."""

    logical_id: str
    name: str
    handler: str
    code_dir: str | None
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int


@dataclass
class EventSourceSpec:
    """An SQS -> Lambda event source mapping."""

    logical_id: str
    queue_arn: str
    function_name: str
    batch_size: int
    max_concurrency: int
    report_failures: bool
    enabled: bool = True
    uuid: str | None = None  # the mapping's id in the endpoint's Lambda API (None: its queue or function is missing)


@dataclass
class RuleSpec:
    """An EventBridge rule with a schedule (fired by the local cron ticker) or a pattern."""

    logical_id: str
    name: str
    bus: str
    schedule: str | None
    pattern: dict[str, Any] | None
    targets: list[dict[str, Any]]


@dataclass
class StateMachineSpec:
    """A Step Functions state machine created on the endpoint."""

    logical_id: str
    name: str
    arn: str


@dataclass
class Provisioned:
    """What the local cloud created, and what it left out."""

    resolver: Resolver
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    ttl_tables: dict[str, str] = field(default_factory=dict)  # table name -> TTL attribute
    skipped: dict[str, str] = field(default_factory=dict)  # resource type -> why
    queue_urls_by_arn: dict[str, str] = field(default_factory=dict)
    state_machines: list[StateMachineSpec] = field(default_factory=list)
    http_apis: list[HttpApiSpec] = field(default_factory=list)


Creator = Callable[["Provisioner", str, dict[str, Any]], tuple[str, dict[str, str]]]
_CREATORS: dict[str, Creator] = {}


def creates(resource_type: str) -> Callable[[Creator], Creator]:
    def register(fn: Creator) -> Creator:
        _CREATORS[resource_type] = fn
        return fn

    return register


def supported_types() -> set[str]:
    """Resource types the local cloud creates (the rest are skipped or unsupported)."""
    return set(_CREATORS)


class Provisioner:
    """Walks a template and creates its resources through boto3 clients on the endpoint."""

    def __init__(
        self, template: Template, client: Callable[[str], Any], *, api_endpoints: tuple[str, ...] = ()
    ) -> None:
        self.template = template
        self.client = client
        # Where the local cloud serves the template's HTTP APIs, in template order (their ApiEndpoint).
        self.api_endpoints = api_endpoints
        self.result = Provisioned(resolver=Resolver(stack_name=template.stack_name))

    def run(self) -> Provisioned:
        resolver = self.result.resolver
        for lid in self.template.creation_order():
            res = self.template.resources[lid]
            rtype = res["Type"]
            creator = _CREATORS.get(rtype)
            if creator is None:
                why = NO_LOCAL_EFFECT.get(rtype, "not emulated by the local cloud")
                if rtype.startswith("Custom::") and rtype != "Custom::S3BucketNotifications":
                    why = "custom resources are not run locally"
                self.result.skipped.setdefault(rtype, why)
                resolver.refs[lid] = f"{lid}-local"
                arn = (
                    f"arn:aws:iam::{ACCOUNT}:role/{lid}"
                    if rtype == "AWS::IAM::Role"
                    else f"arn:aws:local:{REGION}:{ACCOUNT}:{lid}"
                )
                resolver.attrs[lid] = {"Arn": arn}
                resolver.placeholders.add(lid)
                continue
            props = resolver.resolve(res.get("Properties", {}))
            physical, attrs = creator(self, lid, props)
            resolver.refs[lid] = physical
            resolver.attrs[lid] = attrs
        return self.result

    def name_for(self, lid: str, limit: int = 64, lower: bool = False) -> str:
        name = f"{self.template.stack_name}-{lid}"[:limit]
        return name.lower() if lower else name


# -- SQS ---------------------------------------------------------------------------------
@creates("AWS::SQS::Queue")
def _queue(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    sqs = p.client("sqs")
    name = props.get("QueueName") or p.name_for(lid, 80)
    attributes: dict[str, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
        if key in props:
            attributes[key] = str(props[key])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    if props.get("FifoQueue"):
        attributes["FifoQueue"] = "true"
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    p.result.queue_urls_by_arn[arn] = url
    return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}


# -- DynamoDB ----------------------------------------------------------------------------
@creates("AWS::DynamoDB::Table")
def _table(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    ddb = p.client("dynamodb")
    name = props.get("TableName") or p.name_for(lid, 255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
            for gsi in props["GlobalSecondaryIndexes"]
        ]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    desc = ddb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
        p.result.ttl_tables[name] = ttl["AttributeName"]
    attrs = {"Arn": desc["TableArn"]}
    if desc.get("LatestStreamArn"):
        attrs["StreamArn"] = desc["LatestStreamArn"]
    return name, attrs


# -- SNS ---------------------------------------------------------------------------------
@creates("AWS::SNS::Topic")
def _topic(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("TopicName") or p.name_for(lid, 256)
    arn = p.client("sns").create_topic(Name=name)["TopicArn"]
    for sub in props.get("Subscription", []):
        p.client("sns").subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
    return arn, {"TopicArn": arn, "TopicName": name}


@creates("AWS::SNS::Subscription")
def _subscription(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    attributes = {}
    if "RawMessageDelivery" in props:
        attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
    if "FilterPolicy" in props:
        attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
    arn = p.client("sns").subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes
    )["SubscriptionArn"]
    return arn, {"Arn": arn}


# -- EventBridge -------------------------------------------------------------------------
@creates("AWS::Events::EventBus")
def _bus(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    arn = p.client("events").create_event_bus(Name=props["Name"])["EventBusArn"]
    return props["Name"], {"Arn": arn, "Name": props["Name"]}


@creates("AWS::Events::Rule")
def _rule(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    events = p.client("events")
    name = props.get("Name") or p.name_for(lid, 64)
    bus = str(props.get("EventBusName", "default")).rsplit("/", 1)[-1]
    kwargs: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
    if "ScheduleExpression" in props:
        kwargs["ScheduleExpression"] = props["ScheduleExpression"]
    if "EventPattern" in props:
        kwargs["EventPattern"] = json.dumps(props["EventPattern"])
    arn = events.put_rule(**kwargs)["RuleArn"]
    targets = props.get("Targets", [])
    # Pattern rules to SQS/SNS targets are delivered by the endpoint itself; schedules are
    # fired by the local cron ticker, which also serves Lambda and Step Functions targets.
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=[_target(t) for t in targets])
    p.result.rules.append(
        RuleSpec(
            logical_id=lid,
            name=name,
            bus=bus,
            schedule=props.get("ScheduleExpression"),
            pattern=props.get("EventPattern"),
            targets=targets,
        )
    )
    return name, {"Arn": arn}


def _target(t: dict[str, Any]) -> dict[str, Any]:
    keep = ("Id", "Arn", "Input", "InputPath", "InputTransformer", "SqsParameters", "RoleArn")
    return {k: v for k, v in t.items() if k in keep}


# -- S3 ----------------------------------------------------------------------------------
@creates("AWS::S3::Bucket")
def _bucket(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("BucketName") or _bucket_name(p, lid)
    s3 = p.client("s3")
    s3.create_bucket(Bucket=name)
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if "NotificationConfiguration" in props:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=notification_api_shape(props["NotificationConfiguration"])
        )
    return name, {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
    }


def notification_api_shape(cfn: dict[str, Any]) -> dict[str, Any]:
    """A bucket's NotificationConfiguration as CloudFormation writes it, in the S3 API's shape."""
    kinds = {
        "QueueConfigurations": ("Queue", "QueueArn"),
        "TopicConfigurations": ("Topic", "TopicArn"),
        "LambdaConfigurations": ("Function", "LambdaFunctionArn"),
    }
    out: dict[str, Any] = {}
    for section, (cfn_key, api_key) in kinds.items():
        for entry in cfn.get(section, []):
            converted: dict[str, Any] = {api_key: entry[cfn_key], "Events": [entry["Event"]]}
            rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                converted["Filter"] = {"Key": {"FilterRules": rules}}
            out.setdefault(section, []).append(converted)
    return out


def _bucket_name(p: Provisioner, lid: str) -> str:
    allowed = string.ascii_lowercase + string.digits + "-"
    raw = f"{p.template.stack_name}-{lid}".lower()
    return "".join(c for c in raw if c in allowed)[:55] + "-" + secrets.token_hex(3)


@creates("Custom::S3BucketNotifications")
def _bucket_notifications(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """CDK wires S3 -> SQS/SNS/Lambda notifications through this custom resource; do what it does."""
    p.client("s3").put_bucket_notification_configuration(
        Bucket=props["BucketName"], NotificationConfiguration=props.get("NotificationConfiguration", {})
    )
    return f"{props['BucketName']}-notifications", {}


# -- SES ---------------------------------------------------------------------------------
# The sender's identity is created verified (moto verifies at once; in AWS the owner clicks a link) and
# the configuration set exists, so sends name it as they do deployed. moto never emits delivery events.
@creates("AWS::SES::EmailIdentity")
def _email_identity(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    identity = props["EmailIdentity"]
    p.client("sesv2").create_email_identity(EmailIdentity=identity)
    return identity, {}


@creates("AWS::SES::ConfigurationSet")
def _configuration_set(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("Name") or p.name_for(lid, 64)
    p.client("sesv2").create_configuration_set(ConfigurationSetName=name)
    return name, {}


# -- Secrets and parameters ----------------------------------------------------------------
# -- S3 Vectors ----------------------------------------------------------------------------
@creates("AWS::S3Vectors::VectorBucket")
def _vector_bucket(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("VectorBucketName") or _bucket_name(p, lid)
    client = p.client("s3vectors")
    encryption = props.get("EncryptionConfiguration") or {}
    kwargs: dict[str, Any] = {"vectorBucketName": name}
    if encryption.get("SseType"):
        kwargs["encryptionConfiguration"] = {"sseType": encryption["SseType"]}
    client.create_vector_bucket(**kwargs)
    arn = client.get_vector_bucket(vectorBucketName=name)["vectorBucket"]["vectorBucketArn"]
    return name, {"VectorBucketArn": arn, "Arn": arn}


@creates("AWS::S3Vectors::Index")
def _vector_index(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    client = p.client("s3vectors")
    bucket = props.get("VectorBucketName") or str(props["VectorBucketArn"]).rsplit("/", 1)[-1]
    name = props.get("IndexName") or p.name_for(lid, 63, lower=True)
    metadata = props.get("MetadataConfiguration") or {}
    client.create_index(
        vectorBucketName=bucket,
        indexName=name,
        dataType=props["DataType"],
        dimension=int(props["Dimension"]),
        distanceMetric=props["DistanceMetric"],
        metadataConfiguration={"nonFilterableMetadataKeys": list(metadata.get("NonFilterableMetadataKeys", []))},
    )
    arn = client.get_index(vectorBucketName=bucket, indexName=name)["index"]["indexArn"]
    return arn, {"IndexArn": arn}


@creates("AWS::SecretsManager::Secret")
def _secret(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("Name") or p.name_for(lid, 256)
    value = props.get("SecretString")
    gen = props.get("GenerateSecretString")
    if value is None and gen is not None:
        alphabet = string.ascii_letters + string.digits
        if not gen.get("ExcludePunctuation"):
            alphabet += "!#$%&()*+,-.:;<=>?[]^_{|}~"
        value = "".join(secrets.choice(alphabet) for _ in range(int(gen.get("PasswordLength", 32))))
        if gen.get("SecretStringTemplate") and gen.get("GenerateStringKey"):
            doc = json.loads(gen["SecretStringTemplate"])
            doc[gen["GenerateStringKey"]] = value
            value = json.dumps(doc)
    arn = p.client("secretsmanager").create_secret(Name=name, SecretString=value or "")["ARN"]
    return arn, {"Arn": arn}


@creates("AWS::SSM::Parameter")
def _parameter(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("Name") or f"/{p.template.stack_name}/{lid}"
    p.client("ssm").put_parameter(Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"))
    return name, {"Type": props.get("Type", "String"), "Value": str(props["Value"])}


# -- Lambda ------------------------------------------------------------------------------
# The functions run in the local cloud's process. The endpoint's Lambda API holds a placeholder of each, and
# each event source mapping, so what names them works as on AWS: a state machine's Lambda tasks, and
# `offload queues pause|resume` (lambda:UpdateEventSourceMapping). Only the local cloud's pollers deliver
# (offload.local.sqs_events.stop_moto_delivering says why moto must not).
PLACEHOLDER_ROLE = "offload-local-lambda"
# What the endpoint's mapping keeps from the template's (pause and resume flip Enabled).
_MAPPING_PROPERTIES = (
    "BatchSize",
    "FilterCriteria",
    "FunctionResponseTypes",
    "MaximumBatchingWindowInSeconds",
    "ScalingConfig",
)


def register_functions(client: Callable[[str], Any], names: list[str]) -> None:
    """Create each function in the endpoint's Lambda API (a placeholder package) so tasks and mappings can name it."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=PLACEHOLDER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("placeholder.py", "# runs in-process in the local cloud\n")
    lam = client("lambda")
    for name in names:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=f"arn:aws:iam::{ACCOUNT}:role/{PLACEHOLDER_ROLE}",
            Handler="placeholder.handler",
            Code={"ZipFile": package.getvalue()},
        )


@creates("AWS::Lambda::Function")
def _function(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("FunctionName") or p.name_for(lid, 64)
    register_functions(p.client, [name])
    code_dir = _asset_dir(p, props.get("Code", {}))
    p.result.functions[name] = FunctionSpec(
        logical_id=lid,
        name=name,
        handler=props["Handler"],
        code_dir=code_dir,
        environment={k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
        timeout_s=int(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
    )
    return name, {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"}


def _asset_dir(p: Provisioner, code: dict[str, Any]) -> str | None:
    """The staged directory of a function's code, found through the assets manifest."""
    key = str(code.get("S3Key", ""))
    digest = key.split(".", 1)[0]
    manifest = p.template.assets_dir / f"{p.template.stack_name}.assets.json"
    if not digest or not manifest.exists():
        return None
    source = json.loads(manifest.read_text()).get("files", {}).get(digest, {}).get("source", {})
    return str(p.template.assets_dir / source["path"]) if "path" in source else None


@creates("AWS::Lambda::EventSourceMapping")
def _event_source(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    enabled = props.get("Enabled", True)
    source = EventSourceSpec(
        logical_id=lid,
        queue_arn=props["EventSourceArn"],
        function_name=str(props["FunctionName"]).rsplit(":", 1)[-1],
        batch_size=int(props.get("BatchSize", 10)),
        max_concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)),
        report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        enabled=enabled if isinstance(enabled, bool) else str(enabled).lower() == "true",
    )
    p.result.event_sources.append(source)
    if source.function_name not in p.result.functions or source.queue_arn not in p.result.queue_urls_by_arn:
        return f"{lid}-mapping", {}  # the local cloud says so at start; it delivers nothing for this one
    kept = {key: props[key] for key in _MAPPING_PROPERTIES if key in props}
    source.uuid = str(
        p.client("lambda").create_event_source_mapping(
            EventSourceArn=source.queue_arn,
            FunctionName=source.function_name,
            Enabled=source.enabled,
            **{**kept, "BatchSize": source.batch_size},
        )["UUID"]
    )
    return source.uuid, {}


# -- Step Functions ----------------------------------------------------------------------
@creates("AWS::StepFunctions::StateMachine")
def _state_machine(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = props.get("StateMachineName") or p.name_for(lid, 80)
    definition = props.get("DefinitionString") or json.dumps(props.get("Definition", {}))
    if not isinstance(definition, str):
        definition = json.dumps(definition)
    arn = p.client("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=str(props.get("RoleArn") or f"arn:aws:iam::{ACCOUNT}:role/local-states"),
        type=props.get("StateMachineType", "STANDARD"),
    )["stateMachineArn"]
    p.result.state_machines.append(StateMachineSpec(logical_id=lid, name=name, arn=arn))
    return arn, {"Arn": arn, "Name": name}


# -- API Gateway (HTTP APIs) -------------------------------------------------------------
@creates("AWS::ApiGatewayV2::Api")
def _http_api(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    from offload.local.api import HttpApiSpec

    if props.get("ProtocolType", "HTTP") != "HTTP":
        raise TemplateError(f"{lid}: only HTTP APIs are served locally, not {props.get('ProtocolType')}")
    api_id = f"local{len(p.result.http_apis)}"
    p.result.http_apis.append(HttpApiSpec(logical_id=lid, api_id=api_id, name=str(props.get("Name") or lid)))
    endpoint = p.api_endpoints[len(p.result.http_apis) - 1] if len(p.api_endpoints) >= len(p.result.http_apis) else ""
    return api_id, {"ApiEndpoint": endpoint, "ApiId": api_id}


def _api_of(p: Provisioner, api_id: str) -> Any:
    for api in p.result.http_apis:
        if api.api_id == api_id:
            return api
    raise TemplateError(f"an API Gateway resource refers to API {api_id!r}, which is not in the template")


@creates("AWS::ApiGatewayV2::Integration")
def _api_integration(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    if props.get("IntegrationType") != "AWS_PROXY" or ":function:" not in str(props.get("IntegrationUri", "")):
        raise TemplateError(f"{lid}: only Lambda proxy integrations are served locally")
    if str(props.get("PayloadFormatVersion", "2.0")) != "2.0":
        raise TemplateError(f"{lid}: only payload format 2.0 is served locally")
    integration_id = f"{lid}-local"
    function = str(props["IntegrationUri"]).rsplit(":function:", 1)[1].split(":", 1)[0]
    _api_of(p, str(props["ApiId"])).integrations[integration_id] = function
    return integration_id, {}


@creates("AWS::ApiGatewayV2::Route")
def _api_route(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    from offload.local.api import RouteSpec

    target = str(props.get("Target", ""))
    auth = str(props.get("AuthorizationType", "NONE"))
    if auth not in ("NONE", "AWS_IAM"):
        raise TemplateError(f"{lid}: {auth} authorization is not served locally (NONE and AWS_IAM are)")
    _api_of(p, str(props["ApiId"])).routes.append(
        RouteSpec(
            route_key=str(props["RouteKey"]), authorization=auth, integration_id=target.removeprefix("integrations/")
        )
    )
    return f"{lid}-local", {}


@creates("AWS::ApiGatewayV2::Stage")
def _api_stage(p: Provisioner, lid: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
    api = _api_of(p, str(props["ApiId"]))
    api.access_log = bool(props.get("AccessLogSettings"))
    return str(props.get("StageName", "$default")), {}
