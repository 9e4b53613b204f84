"""An Amazon S3 Vectors bucket and its first index, with grants scoped to the bucket's indexes.

CloudFormation: AWS::S3Vectors::VectorBucket (EncryptionConfiguration: SSE-S3 `AES256` or `aws:kms`)
and AWS::S3Vectors::Index (DataType, Dimension, DistanceMetric required; MetadataConfiguration's
NonFilterableMetadataKeys), as the L1 constructs of aws-cdk-lib's `aws_s3vectors` (aws-cdk-lib 2.275).

The index is sized to the embedder the stack configures and keeps its vectors when CloudFormation
replaces it (a new embedder gives a new index name): DeletionPolicy and UpdateReplacePolicy are Retain,
so search keeps answering from the old index until a re-index switches to the new one.
Further indexes (a re-index for another embedder) are created at run time by the functions granted
`grant_manage_indexes`; every grant names the bucket's indexes under one name prefix, never `*`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3vectors as s3vectors
from constructs import Construct

from offload.cdk.nag import acknowledge

WRITE_ACTIONS = ("s3vectors:PutVectors", "s3vectors:DeleteVectors")
# QueryVectors with a filter or returnMetadata also needs GetVectors.
QUERY_ACTIONS = ("s3vectors:QueryVectors", "s3vectors:GetVectors")
MANAGE_ACTIONS = ("s3vectors:GetIndex", "s3vectors:CreateIndex")


class VectorBucket(Construct):
    """The vector bucket (encrypted with SSE-S3) and one cosine float32 index of `dimensions`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        index_name: str,
        dimensions: int,
        index_prefix: str,
        non_filterable: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if not index_name.startswith(index_prefix):
            raise ValueError(f"index {index_name!r} must start with the grants' prefix {index_prefix!r}")
        self.index_prefix = index_prefix
        self.bucket = s3vectors.CfnVectorBucket(
            self,
            "Bucket",
            encryption_configuration=s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(sse_type="AES256"),
        )
        self.bucket.apply_removal_policy(RemovalPolicy.RETAIN)
        self.index = s3vectors.CfnIndex(
            self,
            "Index",
            vector_bucket_arn=self.bucket.attr_vector_bucket_arn,
            index_name=index_name,
            data_type="float32",
            dimension=dimensions,
            distance_metric="cosine",
            metadata_configuration=s3vectors.CfnIndex.MetadataConfigurationProperty(
                non_filterable_metadata_keys=list(non_filterable)
            )
            if non_filterable
            else None,
        )
        self.index.apply_removal_policy(RemovalPolicy.RETAIN)
        self.index_name = index_name
        stack = Stack.of(self)
        CfnOutput(stack, "VectorBucketArn", value=self.bucket.attr_vector_bucket_arn)
        CfnOutput(stack, "VectorIndexName", value=index_name)

    @property
    def bucket_name(self) -> str:
        """The bucket's name (`Ref` of AWS::S3Vectors::VectorBucket)."""
        return self.bucket.ref

    @property
    def indexes_arn(self) -> str:
        """The ARNs of this bucket's indexes under the prefix (`<bucket arn>/index/<prefix>*`)."""
        return f"{self.bucket.attr_vector_bucket_arn}/index/{self.index_prefix}*"

    def grant_query(self, role: iam.IGrantable) -> None:
        """Search the indexes (QueryVectors, and GetVectors that filters and metadata need)."""
        self._grant(role, QUERY_ACTIONS, "searches")

    def grant_write(self, role: iam.IGrantable) -> None:
        """Put and delete vectors in the indexes."""
        self._grant(role, WRITE_ACTIONS, "writes vectors to")

    def grant_manage_indexes(self, role: iam.IGrantable) -> None:
        """Look up and create indexes under the prefix (one per embedder: a re-index makes the next one)."""
        self._grant(role, MANAGE_ACTIONS, "creates and looks up")
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3vectors:CreateIndex"], resources=[self.bucket.attr_vector_bucket_arn])
        )

    def _grant(self, role: iam.IGrantable, actions: Sequence[str], doing: str) -> None:
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[self.indexes_arn])
        )
        policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
        if policy is not None:
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{_cfn_logical_id(self.bucket)}.VectorBucketArn>"
                f"/index/{self.index_prefix}*]",
                f"The function {doing} the images indexes of this vector bucket only: one index per embedder "
                f"(named {self.index_prefix}<model>-<dimensions>), so a re-index can make the next one.",
            )


def _cfn_logical_id(resource: CfnResource) -> str:
    stack = Stack.of(resource)
    return str(stack.resolve(stack.get_logical_id(resource)))
