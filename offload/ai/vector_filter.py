"""Metadata filters for vector queries, in the syntax Amazon S3 Vectors' QueryVectors takes.

A filter is a dict: `{"status": "indexed"}` (implicit equality), `{"tags": {"$in": ["cat", "dog"]}}`,
`{"$and": [{...}, {...}]}`, `{"$or": [...]}`; field operators `$eq $ne $gt $gte $lt $lte $in $nin
$exists`. A list-valued metadata field matches `$eq`/`$in` when any of its items does, as in S3 Vectors.
Every adapter of the VectorIndex port that filters by itself (in memory, the S3-JSON index, the local
QueryVectors shim) evaluates filters here, so all of them agree with the managed service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
LOGICAL_OPERATORS = ("$and", "$or")
_SCALARS = (str, int, float, bool)


class FilterError(ValueError):
    """A metadata filter that is not well formed; the message names the part and the fix."""


def check_filter(flt: Mapping[str, Any]) -> None:
    """Raise FilterError unless `flt` is a well-formed metadata filter."""
    if not isinstance(flt, Mapping) or not flt:
        raise FilterError(f"a metadata filter must be a non-empty object, got {flt!r}: e.g. {{'status': 'indexed'}}")
    for name, condition in flt.items():
        if name in LOGICAL_OPERATORS:
            if not isinstance(condition, list) or not condition:
                raise FilterError(f"{name} takes a non-empty list of filters, got {condition!r}")
            for part in condition:
                check_filter(part)
        elif name.startswith("$"):
            raise FilterError(f"unknown operator {name!r} at the top of a filter: use one of {LOGICAL_OPERATORS}")
        elif isinstance(condition, Mapping):
            _check_condition(name, condition)
        elif not isinstance(condition, _SCALARS):
            raise FilterError(f"filter on {name!r}: compare with a string, number or boolean, got {condition!r}")


def _check_condition(name: str, condition: Mapping[str, Any]) -> None:
    if len(condition) != 1:
        raise FilterError(f"filter on {name!r}: give exactly one operator per field, got {sorted(condition)}")
    [(op, value)] = condition.items()
    if op not in FIELD_OPERATORS:
        raise FilterError(f"filter on {name!r}: unknown operator {op!r}; use one of {', '.join(FIELD_OPERATORS)}")
    if op in ("$in", "$nin"):
        if not isinstance(value, list) or not value or not all(isinstance(v, _SCALARS) for v in value):
            raise FilterError(f"filter on {name!r}: {op} takes a non-empty list of strings or numbers, got {value!r}")
    elif op == "$exists":
        if not isinstance(value, bool):
            raise FilterError(f"filter on {name!r}: $exists takes true or false, got {value!r}")
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FilterError(f"filter on {name!r}: {op} compares numbers, got {value!r}")
    elif not isinstance(value, _SCALARS):
        raise FilterError(f"filter on {name!r}: {op} takes a string, number or boolean, got {value!r}")


def matches(flt: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> bool:
    """Whether `metadata` passes `flt` (None passes everything). Check the filter first (check_filter)."""
    if not flt:
        return True
    return all(_matches_one(name, condition, metadata) for name, condition in flt.items())


def _matches_one(name: str, condition: Any, metadata: Mapping[str, Any]) -> bool:
    if name == "$and":
        return all(matches(part, metadata) for part in condition)
    if name == "$or":
        return any(matches(part, metadata) for part in condition)
    op, expected = next(iter(condition.items())) if isinstance(condition, Mapping) else ("$eq", condition)
    present = name in metadata
    if op == "$exists":
        return present is expected
    if not present:
        return op in ("$ne", "$nin")  # a missing field is "not equal" to anything, as in S3 Vectors
    actual = metadata[name]
    values = actual if isinstance(actual, list) else [actual]
    if op == "$eq":
        return expected in values
    if op == "$ne":
        return expected not in values
    if op == "$in":
        return any(v in expected for v in values)
    if op == "$nin":
        return not any(v in expected for v in values)
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    compare = {
        "$gt": lambda v: v > expected,
        "$gte": lambda v: v >= expected,
        "$lt": lambda v: v < expected,
        "$lte": lambda v: v <= expected,
    }[op]
    return any(compare(v) for v in numbers)


def equals_filter(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """A filter requiring each field to equal its value (None when `fields` is empty): what the CLI and API build."""
    parts = [{name: {"$eq": value}} for name, value in fields.items()]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}
