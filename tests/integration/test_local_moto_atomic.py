"""The local cloud's moto makes each DynamoDB request atomic, as DynamoDB does (offload.local.moto_server):
the job store's conditional start is what keeps a duplicate delivery from running a job twice."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from offload.local.moto_server import prepare_moto
from offload.testing.aws import REGION


@pytest.fixture
def racing(aws: Any) -> Iterator[Any]:
    """A table, and GIL switches every 10 us so that threads interleave inside moto as they can at any time."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="race",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield ddb
    sys.setswitchinterval(interval)


def _race(ddb: Any, rounds: int = 30, threads: int = 8) -> tuple[list[int], list[BaseException]]:
    """Per round, `threads` conditional claims of one fresh item at once; returns each round's winner count."""
    winners: list[int] = []
    errors: list[BaseException] = []
    for round_ in range(rounds):
        key = {"k": {"S": f"job-{round_}"}}
        ddb.put_item(TableName="race", Item={**key, "pad": {"S": "x" * 2000}})
        won: list[int] = []
        start = threading.Barrier(threads)

        def claim(me: int, key: dict = key, won: list[int] = won, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                ddb.update_item(
                    TableName="race",
                    Key=key,
                    UpdateExpression="SET owner_id = :me ADD attempts :one",
                    ConditionExpression="attribute_not_exists(owner_id)",
                    ExpressionAttributeValues={":me": {"S": str(me)}, ":one": {"N": "1"}},
                )
                won.append(me)
            except ddb.exceptions.ConditionalCheckFailedException:
                pass
            except Exception as exc:  # moto failing mid-request, as a race makes it
                errors.append(exc)

        running = [threading.Thread(target=claim, args=(n,)) for n in range(threads)]
        for t in running:
            t.start()
        for t in running:
            t.join()
        winners.append(len(won))
    return winners, errors


def test_racing_conditional_updates_have_exactly_one_winner_each_round(racing: Any) -> None:
    undo = prepare_moto()
    try:
        winners, errors = _race(racing)
    finally:
        undo()

    assert errors == []
    assert winners == [1] * len(winners)
    items = [racing.get_item(TableName="race", Key={"k": {"S": f"job-{n}"}})["Item"] for n in range(30)]
    assert [int(item["attempts"]["N"]) for item in items] == [1] * 30
