"""The notifications pack's resources: delivery records, the sender's SES identity, the configuration set
whose delivery events reach EventBridge, and the function that applies them to the records.

    worker (notifications queue) --SendEmail(configuration set, tag offload-delivery)--> SES
    SES --events of the configuration set--> EventBridge default bus (the only bus SES publishes to)
    rule (source aws.ses, tag offload-delivery present) --> events function --> delivery records
"""

from __future__ import annotations

from aws_cdk import CfnOutput, CfnResource, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ses as ses
from constructs import Construct

from offload.cdk.constructs.job_queue import check_environment_size, offload_function
from offload.cdk.constructs.pipeline import LOG_RETENTION, records_table
from offload.cdk.constructs.table_grants import grant_read_write_items
from offload.cdk.nag import acknowledge
from offload.cdk.pack_context import PackContext
from offload.packs.notifications.email import DELIVERY_TAG
from offload.packs.notifications.events import EVENT_SOURCE
from offload.packs.notifications.settings import NotificationOptions

EVENTS_HANDLER = "offload.packs.notifications.handler.handler"
# What the configuration set reports: every outcome a delivery record shows, and complaints.
SES_EVENTS = (
    ses.EmailSendingEvent.SEND,
    ses.EmailSendingEvent.DELIVERY,
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.RENDERING_FAILURE,
    ses.EmailSendingEvent.DELIVERY_DELAY,
)


class Notifications(Construct):
    """Deliveries table, SES identity and configuration set, the SES events rule and function."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        options = ctx.options_as(NotificationOptions, "notifications_pack")
        self.table = records_table(self, "Deliveries", ttl_attribute="expires_at")
        self.identity = ses.EmailIdentity(self, "Sender", identity=ses.Identity.email(options.sender))
        self.configuration_set = ses.ConfigurationSet(
            self, "ConfigurationSet", reputation_metrics=True, sending_enabled=True
        )
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.configuration_set.add_event_destination(
            "ToEventBridge", destination=ses.EventDestination.event_bus(default_bus), events=list(SES_EVENTS)
        )
        self.settings = {
            "deliveries_table": self.table.table_name,
            "sender": options.sender,
            "configuration_set": self.configuration_set.configuration_set_name,
            **({"templates": options.templates} if options.templates else {}),
        }
        self.function = self._events_function(ctx)
        events.Rule(
            self,
            "SesEvents",
            description="SES delivery events of offload's configuration set -> delivery records",
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE], detail={"mail": {"tags": {DELIVERY_TAG: [{"exists": True}]}}}
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=8, max_event_age=Duration.hours(6))],
        )
        CfnOutput(stack, "DeliveriesTableName", value=self.table.table_name)
        CfnOutput(stack, "SesConfigurationSetName", value=self.configuration_set.configuration_set_name)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """What the channels do: records, SES sends as the sender, SNS SMS and push publishes."""
        grant_read_write_items(self.table, role)
        stack = Stack.of(self)
        config_set_arn = stack.format_arn(
            service="ses", resource="configuration-set", resource_name=self.configuration_set.configuration_set_name
        )
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["ses:SendEmail"], resources=[self.identity.email_identity_arn, config_set_arn])
        )
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Publish", "sns:CreatePlatformEndpoint", "sns:GetEndpointAttributes"], resources=["*"]
            )
        )
        if isinstance(role, iam.Role):
            policy = role.node.find_child("DefaultPolicy").node.default_child
            assert isinstance(policy, CfnResource)
            acknowledge(
                policy,
                "AwsSolutions-IAM5[Resource::*]",
                "SMS publishes go to phone numbers, which have no ARN, and push endpoints are created per device "
                "at run time: SNS Publish, CreatePlatformEndpoint and GetEndpointAttributes are granted on *; X-Ray "
                "and (in the VPC) the network-interface Describe* actions have no resource-level permissions.",
            )

    def _events_function(self, ctx: PackContext) -> lambda_.Function:
        log_group = logs.LogGroup(self, "EventsLogs", retention=LOG_RETENTION)
        role = iam.Role(self, "EventsRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        env = {**ctx.environment, **ctx.packs_env(self.settings)}
        check_environment_size(self, env, "the notifications pack's SES events function")
        fn = offload_function(
            self,
            "Events",
            description="offload notifications: SES delivery events -> delivery records",
            handler=EVENTS_HANDLER,
            code=ctx.code,
            layers=ctx.layers,
            timeout=Duration.seconds(30),
            memory_mb=256,
            log_level=ctx.log_level,
            log_group=log_group,
            role=role,
            environment=env,
            cache=None,
        )
        grant_read_write_items(self.table, role)
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
        )
        return fn
