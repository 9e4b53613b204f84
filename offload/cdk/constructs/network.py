"""The VPC that the rate-limit cache and the rate-limited workers share (ElastiCache is reachable only in a VPC).

Two AZs, three subnet tiers: public (the NAT gateway only), private with egress (the workers: AWS APIs and
the AI provider through the NAT), isolated (the cache: no route out at all). S3 and DynamoDB, the bulk of a
worker's AWS traffic (media objects, job records), go through free gateway endpoints instead of the NAT.
See docs/cost.md "Rate-limit cache and VPC" for what the NAT and the optional interface endpoints cost.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

MAX_AZS = 2
# One NAT gateway for both AZs: half the fixed cost of one per AZ; an outage of its AZ cuts the other
# AZ's workers off from the internet and from the AWS APIs without a gateway endpoint (docs/cost.md).
NAT_GATEWAYS = 1
# Lambda's Hyperplane ENIs are shared per subnet + security group, so workers need few addresses;
# an ElastiCache node needs one address per node. /28 is the smallest subnet AWS allows.
PUBLIC_CIDR_MASK = 24
WORKERS_CIDR_MASK = 24
CACHE_CIDR_MASK = 28
FLOW_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
FLOW_LOG_AGGREGATION_S = 600

WORKER_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
CACHE_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


class Network(Construct):
    """A 2-AZ VPC with one NAT gateway, gateway endpoints for S3 and DynamoDB, and flow logs to CloudWatch Logs.

    `interface_endpoints` (none by default) adds PrivateLink endpoints in the worker subnets, e.g.
    `ec2.InterfaceVpcEndpointAwsService.SQS`: each costs about $7.30 a month per AZ, worth it only when a
    service's traffic through the NAT costs more than that (docs/cost.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        interface_endpoints: Sequence[ec2.InterfaceVpcEndpointAwsService] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=MAX_AZS,
            nat_gateways=NAT_GATEWAYS,
            subnet_configuration=[
                # Nothing but the NAT gateway (which has its own Elastic IP) lives here: no public IPs on launch.
                ec2.SubnetConfiguration(
                    name="Public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=PUBLIC_CIDR_MASK,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="Workers", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=WORKERS_CIDR_MASK
                ),
                ec2.SubnetConfiguration(
                    name="Cache", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=CACHE_CIDR_MASK
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[WORKER_SUBNETS]
                ),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[WORKER_SUBNETS]
                ),
            },
            # Closing the default security group takes a custom-resource Lambda (Node.js, outside this
            # stack's runtime and nag conventions); nothing here uses the default group: every ENI gets its own.
            restrict_default_security_group=False,
        )
        self.flow_logs = logs.LogGroup(self, "FlowLogs", retention=FLOW_LOG_RETENTION)
        # The L1 rather than `vpc.add_flow_log`: the L2 acknowledges two CloudFormation-Validate rules on
        # itself (a parent construct), which this project's acknowledgement policy doesn't allow.
        delivery = iam.Role(
            self,
            "FlowLogsRole",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com"),
            description="VPC flow logs delivery to the offload flow log group",
        )
        delivery.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.flow_logs.log_group_arn],
            )
        )
        # ALL traffic, aggregated over 10 minutes: shows both rejected connections (a security group
        # mistake) and who talks to the cache, for a few MB a month at this stack's traffic.
        self.flow_log = ec2.CfnFlowLog(
            self,
            "FlowLog",
            resource_id=self.vpc.vpc_id,
            resource_type="VPC",
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_group_name=self.flow_logs.log_group_name,
            deliver_logs_permission_arn=delivery.role_arn,
            max_aggregation_interval=FLOW_LOG_AGGREGATION_S,
        )
        self.flow_log.node.add_dependency(delivery)
        for service in interface_endpoints:
            self.vpc.add_interface_endpoint(
                f"Endpoint{service.short_name.title().replace('.', '')}",
                service=service,
                subnets=WORKER_SUBNETS,
                private_dns_enabled=True,
            )
