"""The S3 bucket for large job data and fetched files, with server access logs."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from offload.cdk.nag import acknowledge

ACCESS_LOG_RETENTION = Duration.days(90)


class PayloadBucket(Construct):
    """Private, encrypted, SSL-only, versioned bucket; access logs go to a second private bucket."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 log delivery only writes to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_RETENTION)],
        )
        acknowledge(
            self.access_logs.node.default_child,
            "AwsSolutions-S1",
            "This bucket is the access-log target of the payload bucket; logging it into itself "
            "would loop and another log bucket would only move the finding.",
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="payload/",
        )
