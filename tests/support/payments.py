"""The payments and social packs' tables on moto, wired into a runtime as their constructs would wire them."""

from __future__ import annotations

from typing import Any

import boto3

from offload.runtime import Runtime

REGION = "us-east-1"


def create_pk_sk_table(name: str) -> None:
    """A table keyed like the packs' (pk/sk strings), as CloudFormation makes it from records_table."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


def with_packs(rt: Runtime, *, payments: dict[str, Any] | None = None, social: dict[str, Any] | None = None) -> Runtime:
    """`rt` with the payments and social packs' tables created and their settings set (options as given)."""
    packs = dict(rt.settings.packs)
    if payments is not None:
        create_pk_sk_table("offload-test-payments")
        packs["payments"] = {"payments_table": "offload-test-payments", "options": payments}
    if social is not None:
        create_pk_sk_table("offload-test-social")
        packs["social"] = {"social_table": "offload-test-social", "options": social}
    return Runtime(rt.settings.model_copy(update={"packs": packs}), rt.clients, rt.catalog)


def isolate_moto_transactions(monkeypatch: Any) -> None:
    """Give moto's DynamoDB the isolation DynamoDB has, for tests that write concurrently.

    moto applies TransactWriteItems by deep-copying each table first and restoring the copy when a condition
    fails, which also undoes every write other threads made meanwhile (DynamoDB never does). One lock around
    moto's write operations makes each one atomic against the others, as on AWS."""
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, functools.wraps(original)(locked))
