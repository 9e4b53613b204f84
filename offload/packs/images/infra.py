"""The image pipeline: media bucket (uploads/images/ -> SQS), image records, step function, state machine.

Uploads reach the catalog queue of their S3 trigger's job type (`image.process`, on the
rate-limited `images` queue); that job registers the upload and starts one Standard
execution per object version. A backlog therefore waits in SQS, not in running executions.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from offload.catalog import Catalog, CatalogError
from offload.cdk.constructs.job_queue import (
    VPC_ENI_ACTIONS,
    JobQueue,
    _logical_id,
    check_environment_size,
    offload_function,
)
from offload.cdk.nag import acknowledge
from offload.cdk.pack_context import PackContext
from offload.errors import NonRetryableError, RateLimitedError, RetryableError
from offload.packs.images import STEPS

PIPELINE_HANDLER = "offload.packs.images.handler.handler"
MAX_STACK_NAME = 63 - len("-media-") - 12 - 1 - len("ap-southeast-2")
PIPELINE_MEMORY_MB = 2048  # above 1,769 MB a function gets a full vCPU: AVIF encoding is CPU-bound
PIPELINE_TIMEOUT = Duration.minutes(5)
RETRY_ERRORS = [
    RetryableError.__name__,
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class ImagePipeline(Construct):
    """Media bucket, images table, the step function and the Standard state machine that runs it."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # S3 names are at most 63 characters: the account id (12) and the longest region (14) leave 29 for
        # "<stack>-media--".
        if len(stack.stack_name) > MAX_STACK_NAME:
            raise CatalogError(
                f"stack name {stack.stack_name!r} is {len(stack.stack_name)} characters; the images pack's media "
                f"bucket name needs it at most {MAX_STACK_NAME}: set a shorter offload:stackName in cdk.json"
            )
        bucket_name = f"{stack.stack_name.lower()}-media-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        self.media = s3.Bucket(
            self,
            "Media",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=ctx.access_logs,
            server_access_logs_prefix="media/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._notify_queues(ctx.catalog, ctx.queues, bucket_name)
        self.table = dynamodb.Table(
            self,
            "Images",
            partition_key=dynamodb.Attribute(name="key", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
        )
        step_settings = {"media_bucket": self.media.bucket_name, "images_table": self.table.table_name}
        self.function = self._step_function(ctx, {**ctx.environment, **ctx.packs_env(step_settings)})
        self.state_machine = self._state_machine()
        # Settings.packs["images"] for the workers and clients (offload.packs.images.settings.ImagesSettings).
        self.settings = {**step_settings, "pipeline_arn": self.state_machine.state_machine_arn}
        CfnOutput(stack, "MediaBucketName", value=self.media.bucket_name, description="upload to uploads/images/")
        CfnOutput(stack, "ImagesTableName", value=self.table.table_name)
        CfnOutput(stack, "ImagePipelineArn", value=self.state_machine.state_machine_arn)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """What the starter job (`image.process` on the images queue) does: register uploads, start executions."""
        self.state_machine.grant_start_execution(role)
        # A cancel between registering and starting stops the execution it just started.
        self.state_machine.grant_execution(role, "states:StopExecution")
        self.table.grant_read_write_data(role)
        policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
        if isinstance(policy, CfnResource):
            machine = _logical_id(self.state_machine)
            execution = (
                "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine}"}}]}}]}}:*'
            )
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{execution}]",
                "StopExecution applies to executions, named per object version at run time; the grant covers "
                "executions of the image pipeline state machine only.",
            )

    def _notify_queues(self, catalog: Catalog, queues: Mapping[str, JobQueue], bucket_name: str) -> None:
        """S3 -> SQS per catalog trigger, set on the bucket itself (no custom-resource Lambda).

        The queue policy names the bucket by its deterministic ARN, so bucket and policy don't
        refer to each other, and the bucket waits for the policy (S3 checks it on creation)."""
        configs = []
        cfn_bucket = self.media.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        for trigger in catalog.s3_triggers:
            queue = queues[catalog.job_type(trigger.job_type).queue].queue
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions={
                        "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket_name}"},
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    },
                )
            )
            policy = queue.node.find_child("Policy").node.default_child
            assert isinstance(policy, CfnResource)
            cfn_bucket.add_resource_dependency(policy)
            configs.append(
                s3.CfnBucket.QueueConfigurationProperty(
                    event="s3:ObjectCreated:*",
                    queue=queue.queue_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[s3.CfnBucket.FilterRuleProperty(name="prefix", value=trigger.prefix)]
                        )
                    ),
                )
            )
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=configs
        )

    def _step_function(self, ctx: PackContext, environment: Mapping[str, str]) -> lambda_.Function:
        cache = ctx.cache
        ai_key_secret_arn = ctx.config.ai_key_secret_arn
        log_group = logs.LogGroup(self, "StepLogs", retention=LOG_RETENTION)
        role = iam.Role(self, "StepRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        env = {**environment, **(cache.environment if cache else {})}
        if ai_key_secret_arn:
            env["OFFLOAD_AI_API_KEY_SECRET_ARN"] = ai_key_secret_arn
            role.add_to_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[ai_key_secret_arn])
            )
        if cache is not None:
            role.add_to_policy(iam.PolicyStatement(actions=VPC_ENI_ACTIONS, resources=["*"]))
        check_environment_size(self, env, "the image pipeline's step function")
        fn = offload_function(
            self,
            "Step",
            description="offload image pipeline steps (inspect, metadata, variants, embed, index, complete, fail)",
            handler=PIPELINE_HANDLER,
            code=ctx.code,
            layers=ctx.layers,
            timeout=PIPELINE_TIMEOUT,
            memory_mb=PIPELINE_MEMORY_MB,
            log_level=ctx.log_level,
            log_group=log_group,
            role=role,
            environment=env,
            cache=cache,
        )
        self.media.grant_read_write(role)
        self.table.grant_read_write_data(role)
        ctx.topic.grant_publish(role)
        if cache is not None:
            cache.grant_connect(role)
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        media = _logical_id(self.media)
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{media}.Arn>/*]",
            "Originals, variants and the vector index are objects keyed by upload key, unknown at deploy time; "
            "the grant covers objects in the media bucket only.",
        )
        for action in ("s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*"):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Action::{action}]",
                f"{action} comes from grant_read_write on the media bucket (read originals and the index, write "
                "variants); it applies to that bucket and its objects only.",
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
            + ("; in the VPC, the EC2 network-interface Describe* actions have none either." if cache else "."),
        )
        return fn

    def _state_machine(self) -> sfn.StateMachine:
        fail_task = self._invoke("fail", catch=False)
        failed = sfn.Fail(self, "ImageFailed", error="ImageFailed", cause="see the image record's error")
        fail_task.next(failed)
        chain: sfn.IChainable | None = None
        steps = [s for s in STEPS if s != "fail"]
        first: tasks.LambdaInvoke | None = None
        previous: tasks.LambdaInvoke | None = None
        for step in steps:
            task = self._invoke(step, catch=True)
            mark = sfn.Pass(
                self,
                f"{step.capitalize()}Failed",
                result=sfn.Result.from_string(step),
                result_path="$.failed_step",
            )
            mark.next(fail_task)
            task.add_catch(mark, errors=["States.ALL"], result_path="$.error")
            if previous is None:
                first = task
            else:
                previous.next(task)
            previous = task
        assert first is not None and previous is not None
        previous.next(sfn.Succeed(self, "ImageCompleted"))
        chain = first
        log_group = logs.LogGroup(self, "ExecutionLogs", retention=LOG_RETENTION)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(chain),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(2),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        policy = machine.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(self.function)}.Arn>:*]",
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

    def _invoke(self, step: str, *, catch: bool) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            step.capitalize(),
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object({"step": step, "state": sfn.JsonPath.object_at("$")}),
            output_path="$.Payload",
            retry_on_service_exceptions=False,
        )
        if catch:
            # 1 s, 2 s, 4 s; permanent errors (NonRetryableError) are not retried.
            task.add_retry(errors=RETRY_ERRORS, interval=Duration.seconds(1), max_attempts=3, backoff_rate=2)
            # No slot under a shared limit: wait for one (a Standard execution waits for free), up to
            # about 15 minutes, instead of failing the image.
            task.add_retry(
                errors=[RateLimitedError.__name__],
                interval=Duration.seconds(6),
                max_attempts=20,
                backoff_rate=1.5,
                max_delay=Duration.seconds(60),
            )
        assert NonRetryableError.__name__ not in RETRY_ERRORS
        return task
