"""The jobs table: one item per job, a GSI to list a queue's jobs by status, TTL for cleanup."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The runtime's job store reads and writes exactly these names (one declaration, offload/jobs/table.py).
from offload.jobs.table import (
    BY_QUEUE_STATUS_INDEX,
    BY_QUEUE_STATUS_KEY,
    BY_QUEUE_STATUS_SORT,
    PARTITION_KEY,
    TTL_ATTRIBUTE,
)


class JobsTable(Construct):
    """On-demand DynamoDB table with PITR, encryption at rest (KMS) and TTL on `expires_at`."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
        )
        self.table.add_global_secondary_index(
            index_name=BY_QUEUE_STATUS_INDEX,
            partition_key=dynamodb.Attribute(name=BY_QUEUE_STATUS_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=BY_QUEUE_STATUS_SORT, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
