"""Plain Python values <-> DynamoDB's attribute-value JSON, for the packs that keep typed rows.

The botocore client speaks `{"S": ...}`/`{"N": ...}`; boto3's TypeSerializer does the same but importing
boto3 costs a worker ~110 ms of cold start, so this is the small subset the packs use: str, int, Decimal,
bool, None, lists and dicts. Numbers come back as int when whole, else Decimal (never float: money).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

BATCH_WRITE_MAX = 25  # BatchWriteItem's limit per call


def to_value(value: Any) -> dict[str, Any]:
    """One attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        raise TypeError(f"float {value!r} has no exact DynamoDB number: pass a Decimal or an int")
    if isinstance(value, Mapping):
        return {"M": {str(k): to_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_value(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in DynamoDB: use str, int, Decimal, list or dict")


def from_value(av: Mapping[str, Any]) -> Any:
    """One attribute value back to Python."""
    (kind, raw), *_ = av.items()
    if kind == "S":
        return raw
    if kind == "N":
        number = Decimal(raw)
        return int(number) if number == number.to_integral_value() and "." not in raw else number
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_value(v) for k, v in raw.items()}
    if kind == "L":
        return [from_value(v) for v in raw]
    if kind == "SS":
        return set(raw)
    raise TypeError(f"unsupported DynamoDB attribute type {kind!r}")


def to_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item; None fields are left out."""
    return {k: to_value(v) for k, v in row.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item back to a dict."""
    return {k: from_value(v) for k, v in item.items()}


def batch_put(db: Any, table: str, items: list[dict[str, Any]], *, what: str, tries: int = 8) -> int:
    """Put items (attribute-value form) 25 per BatchWriteItem, retrying UnprocessedItems with backoff.

    Returns how many BatchWriteItem calls it made; raises RetryableError naming `what` if DynamoDB keeps
    refusing some (throttled), so a job's retry picks up where it stopped."""
    from offload.errors import RetryableError

    calls = 0
    for start in range(0, len(items), BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH_WRITE_MAX]]}
        for attempt in range(tries):
            resp = db.batch_write_item(RequestItems=pending)
            calls += 1
            pending = resp.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        if pending:
            raise RetryableError(f"DynamoDB kept refusing {len(pending[table])} {what} (throttled): try again later")
    return calls


def read_all(call: Any, **request: Any) -> list[dict[str, Any]]:
    """Every item of a Query or Scan (`call` is the client's `query` or `scan`), page after page, decoded."""
    rows: list[dict[str, Any]] = []
    while True:
        page = call(**request)
        rows.extend(from_item(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return rows
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
