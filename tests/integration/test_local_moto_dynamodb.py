"""The local cloud's DynamoDB changes to moto for speed (offload.local.moto_server: item answers written as JSON,
quicker update-expression checks, condition tokens remembered and parsed once per request, action names listed
once) leave every answer moto's: the same requests, valid and invalid, get the same answers with and without them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from offload.local.moto_server import prepare_moto
from offload.testing.aws import REGION, create_jobs_table

Outcome = tuple[str, Any]


def _outcome(call: Callable[[], dict[str, Any]]) -> Outcome:
    try:
        answer = call()
    except ClientError as exc:
        error = dict(exc.response)
        error.pop("ResponseMetadata", None)
        return "error", error
    except Exception as exc:  # moto raises some parse errors as they are (a 500 over HTTP): the same ones
        return "raised", f"{type(exc).__name__}: {exc}"
    answer.pop("ResponseMetadata", None)
    return "ok", answer


EVERY_TYPE = {
    "job_id": {"S": "a"},
    "status": {"S": "queued"},
    "attempts": {"N": "0"},
    "max_attempts": {"N": "3"},
    "blob": {"B": bytes(range(256))},
    "names": {"SS": ["x", "y"]},
    "sizes": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"\x00\x01", b"\xff"]},
    "nested": {"M": {"list": {"L": [{"S": "s"}, {"N": "1"}, {"B": b"\x02"}, {"NULL": True}]}, "flag": {"BOOL": False}}},
    "nothing": {"NULL": True},
    "yes": {"BOOL": True},
    "text": {"S": ""},
}


def _session(ddb: Any) -> list[Outcome]:
    """A run of item operations through one client: every answer (or error) in order."""
    table = "jobs"
    create_jobs_table(ddb, table)
    key = {"job_id": {"S": "a"}}
    out: list[Outcome] = []

    def run(call: Callable[[], dict[str, Any]]) -> None:
        out.append(_outcome(call))

    def update(expression: str, values: dict[str, Any] | None = None, **extra: Any) -> None:
        params: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression, **extra}
        if values is not None:
            params["ExpressionAttributeValues"] = values
        run(lambda: ddb.update_item(**params))

    run(lambda: ddb.put_item(TableName=table, Item=EVERY_TYPE, ReturnConsumedCapacity="TOTAL"))
    run(lambda: ddb.get_item(TableName=table, Key=key))
    run(
        lambda: ddb.get_item(
            TableName=table,
            Key=key,
            ProjectionExpression="blob, nested.list[2], #s",
            ExpressionAttributeNames={"#s": "status"},
        )
    )
    start = {
        "ConditionExpression": "attribute_exists(job_id) AND attempts < max_attempts AND (#s = :q OR #s = :d)",
        "ExpressionAttributeNames": {"#s": "status"},
    }
    values = {":a": {"S": "active"}, ":q": {"S": "queued"}, ":d": {"S": "delayed"}, ":one": {"N": "1"}}
    for returns in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW", "NONE", "ALL_OLD"):
        update("SET #s = :a ADD attempts :one", values, ReturnValues=returns, **start)
        update("SET #s = :q", {":q": {"S": "queued"}}, ExpressionAttributeNames={"#s": "status"})
    # refused: the condition, with and without the old item
    update(
        "SET #s = :a",
        {":a": {"S": "active"}, ":q": {"S": "done"}},
        ConditionExpression="#s = :q",
        ExpressionAttributeNames={"#s": "status"},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    update(
        "SET #s = :a",
        {":a": {"S": "active"}, ":q": {"S": "done"}},
        ConditionExpression="#s = :q",
        ExpressionAttributeNames={"#s": "status"},
    )
    # invalid expressions: each check's own error
    update("ADD attempts :one ADD max_attempts :one", {":one": {"N": "1"}})
    update("SET a = :v, a = :w", {":v": {"S": "1"}, ":w": {"S": "2"}})
    update("SET nested.flag = :v, nested = :w", {":v": {"S": "1"}, ":w": {"S": "2"}})
    update("SET job_id = :v", {":v": {"S": "b"}})
    update("SET a = :v", {":v": {"S": "1"}, ":unused": {"S": "2"}})
    update("SET a = :missing", {":v": {"S": "1"}})
    update("ADD #s :one", {":one": {"N": "1"}}, ExpressionAttributeNames={"#s": "status"})
    update("SET status = :v", {":v": {"S": "1"}})
    update("SET a = :v", {":v": {"S": "1"}}, ConditionExpression="attribute_exists(")
    update("SET a = :v", {":v": {"S": "1"}}, ConditionExpression="#nope = :v")
    update("SET a = :v", {":v": {"S": "1"}}, ConditionExpression="(#s = :v)", ExpressionAttributeNames={"#s": "status"})
    update(
        "REMOVE blob, nested.list[0] SET progress = if_not_exists(progress, :z) + :one",
        {":z": {"N": "0"}, ":one": {"N": "5"}},
        ReturnValues="ALL_NEW",
    )
    update(
        "SET tags = list_append(if_not_exists(tags, :empty), :t) DELETE names :x",
        {":empty": {"L": []}, ":t": {"L": [{"S": "t"}]}, ":x": {"SS": ["x"]}},
        ReturnValues="UPDATED_NEW",
    )
    # a new item through UpdateItem, then the reads that list items
    run(
        lambda: ddb.update_item(
            TableName=table,
            Key={"job_id": {"S": "b"}},
            ReturnValues="ALL_NEW",
            UpdateExpression="SET queue_status = :qs, created_at = :c, #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":qs": {"S": "default#queued"}, ":c": {"S": "2026"}, ":s": {"S": "queued"}},
        )
    )
    run(
        lambda: ddb.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "job_id": {"S": f"c{i}"},
                                "queue_status": {"S": "default#queued"},
                                "created_at": {"S": f"2026-{i}"},
                                "blob": {"B": bytes([i])},
                            }
                        }
                    }
                    for i in range(5)
                ]
                + [{"DeleteRequest": {"Key": {"job_id": {"S": "nobody"}}}}]
            },
            ReturnConsumedCapacity="TOTAL",
        )
    )
    run(lambda: ddb.batch_get_item(RequestItems={table: {"Keys": [{"job_id": {"S": f"c{i}"}} for i in range(3)]}}))
    index_query = {
        "TableName": table,
        "IndexName": "by-queue-status",
        "KeyConditionExpression": "queue_status = :qs",
        "ExpressionAttributeValues": {":qs": {"S": "default#queued"}},
    }
    run(lambda: ddb.query(**index_query, Limit=2))
    run(lambda: ddb.query(**index_query, Select="COUNT"))
    run(lambda: ddb.query(**index_query, ScanIndexForward=False, ProjectionExpression="job_id, blob"))
    run(lambda: ddb.scan(TableName=table, FilterExpression="attribute_exists(blob)", Limit=3))
    run(lambda: ddb.scan(TableName=table, Select="COUNT"))
    run(lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"job_id": {"S": "c1"}}}}]))
    run(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"job_id": {"S": "d"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"job_id": {"S": "c2"}},
                        "ConditionExpression": "attribute_not_exists(job_id)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    )
    run(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"job_id": {"S": "c3"}},
                        "UpdateExpression": "SET x = :x",
                        "ExpressionAttributeValues": {":x": {"N": "1"}},
                    }
                }
            ]
        )
    )
    run(
        lambda: ddb.delete_item(
            TableName=table,
            Key={"job_id": {"S": "c4"}},
            ReturnValues="ALL_OLD",
            ConditionExpression="attribute_exists(blob)",
        )
    )
    run(
        lambda: ddb.delete_item(
            TableName=table, Key={"job_id": {"S": "c4"}}, ConditionExpression="attribute_exists(blob)"
        )
    )
    run(lambda: ddb.get_item(TableName=table, Key={"job_id": {"S": "missing"}}))
    run(lambda: ddb.get_item(TableName="no-such-table", Key=key))
    return out


def _answers(patched: bool) -> list[Outcome]:
    with mock_aws():
        undo = prepare_moto() if patched else None
        try:
            return _session(boto3.client("dynamodb", region_name=REGION))
        finally:
            if undo is not None:
                undo()


def test_every_item_operation_answers_as_unpatched_moto_does() -> None:
    plain, patched = _answers(patched=False), _answers(patched=True)

    assert len(patched) == len(plain) > 40
    for i, (mine, motos) in enumerate(zip(patched, plain, strict=True)):
        assert mine == motos, f"answer {i} differs"
    errors = [answer for kind, answer in plain if kind == "error"]
    assert len(errors) >= 12  # the invalid requests were refused, each with moto's own error
    assert patched[0][1]["ConsumedCapacity"]["TableName"] == "jobs"
    item = patched[1][1]["Item"]
    assert item["blob"]["B"] == bytes(range(256)) and item["blobs"]["BS"] == [b"\x00\x01", b"\xff"]


def test_binary_values_go_on_the_wire_as_base64() -> None:
    """What an HTTP client (the AWS CLI) reads: the JSON text, not botocore's decoding of it."""
    from moto.core.responses import ActionResult

    from offload.local.moto_server import _wire

    raw = {"Item": {"b": {"B": b"\xff\x00"}, "bs": {"BS": [b"\x01"]}, "gone": None, "m": {"M": {"n": {"NULL": True}}}}}

    wired = _wire(ActionResult(raw).result)

    assert wired == {
        "Item": {
            "b": {"B": base64.b64encode(b"\xff\x00").decode()},
            "bs": {"BS": ["AQ=="]},
            "m": {"M": {"n": {"NULL": True}}},
        }
    }


def test_a_conditional_update_parses_its_condition_once_and_tokenizes_a_known_text_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    with mock_aws():
        undo = prepare_moto()
        try:
            ddb = boto3.client("dynamodb", region_name=REGION)
            create_jobs_table(ddb, "jobs")
            ddb.put_item(TableName="jobs", Item={"job_id": {"S": "a"}, "n": {"N": "0"}})
            parses = lexes = 0
            parse_paths, lex_one = ConditionExpressionParser._parse_paths, ConditionExpressionParser._lex_one_node

            def counted_parse(parser: Any, nodes: Any) -> Any:
                nonlocal parses
                parses += 1
                return parse_paths(parser, nodes)

            def counted_lex(parser: Any, text: str) -> Any:
                nonlocal lexes
                lexes += 1
                return lex_one(parser, text)

            monkeypatch.setattr(ConditionExpressionParser, "_parse_paths", counted_parse)
            monkeypatch.setattr(ConditionExpressionParser, "_lex_one_node", counted_lex)
            for n in range(3):
                ddb.update_item(
                    TableName="jobs",
                    Key={"job_id": {"S": "a"}},
                    UpdateExpression="SET n = :next",
                    ConditionExpression="n = :now",
                    ExpressionAttributeValues={":now": {"N": str(n)}, ":next": {"N": str(n + 1)}},
                )
            with pytest.raises(ClientError) as refused:  # a stale value: the remembered parse is not reused
                ddb.update_item(
                    TableName="jobs",
                    Key={"job_id": {"S": "a"}},
                    UpdateExpression="SET n = :next",
                    ConditionExpression="n = :now",
                    ExpressionAttributeValues={":now": {"N": "0"}, ":next": {"N": "9"}},
                )
            final = ddb.get_item(TableName="jobs", Key={"job_id": {"S": "a"}})["Item"]["n"]
        finally:
            undo()

    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert final == {"N": "3"}
    assert parses == 4  # one per request; unpatched moto parses each twice (8)
    assert lexes <= 5  # the text's tokens were found once (5 of them), then remembered
