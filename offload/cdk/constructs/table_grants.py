"""Item access to a DynamoDB table: the actions offload's stores call, instead of CDK's wider bundles.

`Table.grant_read_data` and `grant_read_write_data` also grant ConditionCheckItem, GetRecords and
GetShardIterator, which no offload code calls on a table. docs/iam.md lists who calls each action here;
tests/infra/test_iam_actions.py holds the template to it.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam

READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
)
ITEM_ACTIONS = (
    *READ_ACTIONS,
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)


def grant_read_items(table: dynamodb.ITable, grantee: iam.IGrantable) -> iam.Grant:
    """Read the table's items (and its indexes): the actions in READ_ACTIONS."""
    return table.grant(grantee, *READ_ACTIONS)


def grant_read_write_items(table: dynamodb.ITable, grantee: iam.IGrantable) -> iam.Grant:
    """Read and write the table's items (and its indexes): the actions in ITEM_ACTIONS."""
    return table.grant(grantee, *ITEM_ACTIONS)
