"""The media bucket: one versioned bucket for every pack's uploads, each S3 trigger of the catalog
wired to its job type's queue.

The stack creates it when the catalog has any S3 trigger (the images pack's uploads/images/, the
video pack's uploads/videos/, uploads/audio/ and uploads/live/) and hands it to the packs as
`PackContext.media`; a pack grants its own functions what they need on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from offload.catalog import Catalog, CatalogError
from offload.cdk.constructs.job_queue import JobQueue

# S3 names are at most 63 characters: the account id (12) and the longest region (14) leave 29 for
# "<stack>-media--".
MAX_STACK_NAME = 63 - len("-media-") - 12 - 1 - len("ap-southeast-2")


class MediaBucket(Construct):
    """The bucket (`<stack>-media-<account>-<region>`) and its S3 -> SQS notifications."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        queues: Mapping[str, JobQueue],
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if len(stack.stack_name) > MAX_STACK_NAME:
            raise CatalogError(
                f"stack name {stack.stack_name!r} is {len(stack.stack_name)} characters; the media bucket's name "
                f"(the catalog has S3 triggers) needs it at most {MAX_STACK_NAME}: set a shorter offload:stackName "
                "in cdk.json"
            )
        self.bucket_name = f"{stack.stack_name.lower()}-media-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=self.bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="media/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.prefixes = [t.prefix for t in catalog.s3_triggers]
        self._notify_queues(catalog, queues)

    def _notify_queues(self, catalog: Catalog, queues: Mapping[str, JobQueue]) -> None:
        """S3 -> SQS per catalog trigger, set on the bucket itself (no custom-resource Lambda).

        The queue policy names the bucket by its deterministic ARN, so bucket and policy don't
        refer to each other, and the bucket waits for the policy (S3 checks it on creation)."""
        configs = []
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        allowed: set[str] = set()
        for trigger in catalog.s3_triggers:
            queue = queues[catalog.job_type(trigger.job_type).queue].queue
            if queue.node.path not in allowed:  # one statement per queue, however many prefixes feed it
                allowed.add(queue.node.path)
                queue.add_to_resource_policy(
                    iam.PolicyStatement(
                        principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                        actions=["sqs:SendMessage"],
                        resources=[queue.queue_arn],
                        conditions={
                            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{self.bucket_name}"},
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
