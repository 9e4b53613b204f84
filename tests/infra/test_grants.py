"""offload/cdk/constructs/grants.py: each flag grants its one action, on the objects or on the bucket, and a
resource with a customer-managed KMS key is refused rather than granted without its key."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from offload.catalog import CatalogError
from offload.cdk.constructs.grants import bucket_statements, grant_send


def _rendered(stack: Stack, statements: list[iam.PolicyStatement]) -> list[tuple[list[str], object]]:
    """(sorted actions, resolved resource) per statement."""
    out = []
    for statement in statements:
        doc = stack.resolve(statement.to_statement_json())
        actions = doc["Action"] if isinstance(doc["Action"], list) else [doc["Action"]]
        out.append((sorted(actions), doc["Resource"]))
    return out


def test_each_flag_grants_its_action_on_the_objects_or_on_the_bucket() -> None:
    stack = Stack(App(), "Grants")
    bucket = s3.Bucket(stack, "Bucket", encryption=s3.BucketEncryption.S3_MANAGED)
    arn = stack.resolve(bucket.bucket_arn)
    statements = bucket_statements(bucket, read=True, read_versions=True, delete=True, list_=True, prefix="index/*")
    assert _rendered(stack, statements) == [
        (["s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion"], {"Fn::Join": ["", [arn, "/index/*"]]}),
        (["s3:ListBucket"], arn),
    ]
    assert bucket_statements(bucket) == []


def test_a_customer_managed_key_is_refused_not_granted_without_it() -> None:
    stack = Stack(App(), "Grants")
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Bucket", encryption=s3.BucketEncryption.KMS, encryption_key=key)
    queue = sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key)
    with pytest.raises(CatalogError, match="customer-managed KMS key"):
        bucket_statements(bucket, read=True)
    with pytest.raises(CatalogError, match="customer-managed KMS key"):
        grant_send(queue, iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")))
