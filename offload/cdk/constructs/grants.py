"""Access to S3 buckets, SQS queues and Secrets Manager secrets: the actions offload's code calls, instead of
CDK's wider bundles. (Tables: offload/cdk/constructs/table_grants.py.)

`Bucket.grant_read`, `grant_put` and `grant_read_write` add `s3:GetBucket*`, `s3:List*`, `s3:GetObject*`,
`s3:DeleteObject*`, `s3:Abort*` and the object lock and tagging writes (`PutObjectLegalHold`,
`PutObjectRetention`, `PutObjectTagging`, `PutObjectVersionTagging`); `Queue.grant_send_messages` and
`grant_consume_messages` add `sqs:GetQueueUrl` (offload has every queue's URL in its settings);
`Secret.grant_read` adds `secretsmanager:DescribeSecret`. No offload code calls any of those. docs/iam.md lists
who calls each action granted here; tests/infra/test_iam_actions.py holds the template to it.

No KMS grants: the buckets are S3-managed (SSE-S3), the queues SQS-managed (SSE-SQS) and the secrets use
Secrets Manager's AWS managed key, none of which needs one. A resource with a customer-managed key is refused
(a CatalogError) rather than granted without its key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict, Unpack

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

from offload.catalog import CatalogError


class ObjectAccess(TypedDict, total=False):
    """What a function does with a bucket: each flag grants the action next to it in OBJECT_ACTIONS or
    BUCKET_ACTIONS; `prefix` limits the object actions to keys matching it (default every key)."""

    read: bool
    read_versions: bool
    write: bool
    abort_uploads: bool
    delete: bool
    delete_versions: bool
    list_: bool
    list_versions: bool
    list_uploads: bool
    prefix: str


# On `<bucket ARN>/<prefix>`.
OBJECT_ACTIONS = {
    "read": "s3:GetObject",  # get_object, head_object, download_file, a presigned GET
    "read_versions": "s3:GetObjectVersion",  # the same with a VersionId (the exact version an event named)
    "write": "s3:PutObject",  # put_object, upload_file (its multipart calls too), a presigned PUT or POST
    "abort_uploads": "s3:AbortMultipartUpload",  # upload_file aborts the multipart upload that failed
    "delete": "s3:DeleteObject",  # delete_object, delete_objects
    "delete_versions": "s3:DeleteObjectVersion",  # delete_objects naming VersionIds
}
# On the bucket itself. ListBucket also decides what reading a missing key answers: 404 NoSuchKey with it,
# 403 AccessDenied without it, so code that expects a key may be missing (and catches NoSuchKey) needs it.
BUCKET_ACTIONS = {
    "list_": "s3:ListBucket",  # list_objects_v2; NoSuchKey instead of AccessDenied
    "list_versions": "s3:ListBucketVersions",  # list_object_versions
    "list_uploads": "s3:ListBucketMultipartUploads",  # list_multipart_uploads
}
QUEUE_SEND_ACTIONS = ("sqs:SendMessage",)  # send_message, send_message_batch
# The event source mapping's receive, delete and queue attributes (Lambda's documented execution-role
# permissions), and offload's own receive, delete and change_message_visibility (offload/jobs/queues.py).
QUEUE_CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
QUEUE_ATTRIBUTE_ACTIONS = ("sqs:GetQueueAttributes",)  # depth, queue stats, a queue's ARN (offload/jobs/admin.py)
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)


def bucket_statements(bucket: s3.IBucket, **access: Unpack[ObjectAccess]) -> list[iam.PolicyStatement]:
    """The statements for `access` to `bucket` (for a policy of one's own; else use `grant_objects`)."""
    _refuse_customer_key(bucket, bucket.encryption_key)
    chosen: Mapping[str, object] = access
    objects = [action for flag, action in OBJECT_ACTIONS.items() if chosen.get(flag)]
    listing = [action for flag, action in BUCKET_ACTIONS.items() if chosen.get(flag)]
    statements = []
    if objects:
        prefix = access.get("prefix", "*")
        statements.append(iam.PolicyStatement(actions=objects, resources=[bucket.arn_for_objects(prefix)]))
    if listing:
        statements.append(iam.PolicyStatement(actions=listing, resources=[bucket.bucket_arn]))
    return statements


def grant_objects(bucket: s3.IBucket, grantee: iam.IGrantable, **access: Unpack[ObjectAccess]) -> None:
    """Let `grantee` do `access` (the ObjectAccess flags) with `bucket`."""
    for statement in bucket_statements(bucket, **access):
        grantee.grant_principal.add_to_principal_policy(statement)


def grant_send(queue: sqs.IQueue, grantee: iam.IGrantable) -> iam.Grant:
    """Send messages to `queue` (QUEUE_SEND_ACTIONS)."""
    _refuse_customer_key(queue, queue.encryption_master_key)
    return queue.grant(grantee, *QUEUE_SEND_ACTIONS)


def grant_consume(queue: sqs.IQueue, grantee: iam.IGrantable) -> iam.Grant:
    """Consume `queue`: an event source mapping's, or offload's own receive and settle (QUEUE_CONSUME_ACTIONS)."""
    _refuse_customer_key(queue, queue.encryption_master_key)
    return queue.grant(grantee, *QUEUE_CONSUME_ACTIONS)


def grant_queue_attributes(queue: sqs.IQueue, grantee: iam.IGrantable) -> iam.Grant:
    """Read `queue`'s attributes (its counts, its ARN): QUEUE_ATTRIBUTE_ACTIONS."""
    return queue.grant(grantee, *QUEUE_ATTRIBUTE_ACTIONS)


def grant_secret_value(secret: secretsmanager.ISecret, grantee: iam.IGrantable) -> None:
    """Read `secret`'s value (SECRET_ACTIONS), on the ARN `Secret.grant_read` would name: a partial ARN's
    `-??????` stands for the suffix Secrets Manager adds."""
    _refuse_customer_key(secret, secret.encryption_key)
    grant_secret_values(grantee, [secret.secret_full_arn or f"{secret.secret_arn}-??????"])


def grant_secret_values(grantee: iam.IGrantable, secret_arns: Iterable[str]) -> None:
    """Read the values of the secrets with these (complete) ARNs, given as strings (e.g. from cdk.json)."""
    arns = sorted(set(secret_arns))
    if arns:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SECRET_ACTIONS), resources=arns)
        )


def _refuse_customer_key(resource: IConstruct, key: kms.IKey | None) -> None:
    if key is not None:
        raise CatalogError(
            f"{resource.node.path} is encrypted with a customer-managed KMS key, which "
            "offload.cdk.constructs.grants does not grant: use S3-managed, SQS-managed or the AWS managed key, "
            "or add the key's actions there (and to docs/iam.md)"
        )
