"""Metadata filters (offload.ai.vector_filter): what passes, what is refused and how, and the index adapters
that filter by themselves (in memory here; S3 JSON and the QueryVectors shim share the same code)."""

from __future__ import annotations

from typing import Any

import pytest

from offload.ai.vector_filter import FilterError, check_filter, equals_filter, matches
from offload.ai.vector_index import InMemoryVectorIndex

META = {"status": "indexed", "tags": ["cat", "pet"], "width": 800, "moderation": "approved"}


@pytest.mark.parametrize(
    ("flt", "passes"),
    [
        ({"status": "indexed"}, True),
        ({"status": "pending"}, False),
        ({"tags": "cat"}, True),
        ({"tags": {"$nin": ["dog", "car"]}}, True),
        ({"tags": {"$in": ["dog"]}}, False),
        ({"width": {"$gte": 800}}, True),
        ({"width": {"$lt": 800}}, False),
        ({"owner": {"$ne": "ann"}}, True),
        ({"owner": {"$exists": True}}, False),
        ({"$and": [{"status": "indexed"}, {"moderation": {"$in": ["approved", "pending"]}}]}, True),
        ({"$or": [{"status": "pending"}, {"width": {"$gt": 1000}}]}, False),
        (None, True),
    ],
)
def test_a_filter_passes_the_metadata_that_satisfies_it(flt: dict[str, Any] | None, passes: bool) -> None:
    assert matches(flt, META) is passes


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ({}, "non-empty object"),
        ({"tags": {"$like": "c%"}}, r"unknown operator '\$like'"),
        ({"$not": [{"a": 1}]}, r"unknown operator '\$not' at the top"),
        ({"width": {"$gt": "800"}}, r"\$gt compares numbers"),
        ({"tags": {"$in": []}}, r"\$in takes a non-empty list"),
        ({"a": {"$eq": 1, "$ne": 2}}, "exactly one operator"),
        ({"$and": []}, r"\$and takes a non-empty list"),
        ({"a": None}, "compare with a string, number or boolean"),
    ],
)
def test_a_malformed_filter_is_refused_naming_the_part(flt: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        check_filter(flt)


def test_equals_filter_is_one_condition_or_an_and_of_them() -> None:
    assert equals_filter({}) is None
    assert equals_filter({"status": "indexed"}) == {"status": {"$eq": "indexed"}}
    assert equals_filter({"status": "indexed", "mood": "calm"}) == {
        "$and": [{"status": {"$eq": "indexed"}}, {"mood": {"$eq": "calm"}}]
    }


def test_the_in_memory_index_ranks_only_what_passes_the_filter() -> None:
    index = InMemoryVectorIndex()
    index.upsert("a", [1.0, 0.0], {"status": "indexed"})
    index.upsert("b", [0.9, 0.1], {"status": "pending"})
    index.upsert("c", [0.0, 1.0], {"status": "indexed"})

    assert [m.key for m in index.query([1.0, 0.0], limit=3, filter={"status": "indexed"})] == ["a", "c"]
    with pytest.raises(FilterError):
        index.query([1.0, 0.0], filter={"status": {"$regex": "x"}})
