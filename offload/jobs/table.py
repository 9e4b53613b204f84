"""The jobs table's shape: the one declaration the CDK construct, the job store and the test stacks share.

Names only (no AWS SDK): the construct imports it at synth time without pulling in the runtime.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "job_id"
TTL_ATTRIBUTE = "expires_at"
BY_QUEUE_STATUS_INDEX = "by-queue-status"
BY_QUEUE_STATUS_KEY = "queue_status"  # "<queue>#<status>"
BY_QUEUE_STATUS_SORT = "created_at"


def create_table_request(name: str) -> dict[str, Any]:
    """DynamoDB CreateTable arguments for a jobs table (moto stacks; CloudFormation gets the same from CDK)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": BY_QUEUE_STATUS_KEY, "AttributeType": "S"},
            {"AttributeName": BY_QUEUE_STATUS_SORT, "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": BY_QUEUE_STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": BY_QUEUE_STATUS_KEY, "KeyType": "HASH"},
                    {"AttributeName": BY_QUEUE_STATUS_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
