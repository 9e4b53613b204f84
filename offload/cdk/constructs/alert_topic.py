"""The SNS topic for admin alerts, encrypted with a key CloudWatch alarms may use."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

# The account's administrators manage the key and may delegate its use through IAM policies.
# Spelled out instead of `kms:*` so that no Allow statement in the stack has a service-wide action.
_ACCOUNT_KEY_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
]
CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlertTopic(Construct):
    """KMS-encrypted, SSL-only topic; alarms in this account may publish to it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the offload alert topic",
            enable_key_rotation=True,
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="AccountAdministersAndDelegates",
                        principals=[iam.AccountRootPrincipal()],
                        actions=_ACCOUNT_KEY_ACTIONS,
                        resources=["*"],  # in a key policy "*" means this key
                    ),
                    # An alarm action publishes as CloudWatch, which must encrypt the message with this key.
                    iam.PolicyStatement(
                        sid="CloudWatchAlarmsPublish",
                        principals=[iam.ServicePrincipal(CLOUDWATCH)],
                        actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                        resources=["*"],
                        conditions={"StringEquals": {"aws:SourceAccount": account}},
                    ),
                ]
            ),
        )
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True, display_name="offload alerts")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )
