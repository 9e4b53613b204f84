"""Vector indexes: one small JSON object per vector in S3 (cheap, serverless) and an in-memory fake.

`S3VectorIndex` design: each vector is `<prefix><url-quoted key>.json` holding
`{"key", "vector", "metadata"}`. Each instance keeps a cache of the objects it has read,
by ETag. A query LISTs the prefix (1,000 keys per LIST), GETs only objects that are new or
changed since the last query, forgets deleted ones, then ranks everything by brute-force
cosine similarity in pure Python. Writes from other Lambda instances are seen on the
next query because the LIST runs every time.

Cost (S3 Standard, us-east-1: PUT/LIST $0.005 per 1k, GET $0.0004 per 1k, storage
$0.023 per GB-month), for N stored vectors of 1,536 dimensions (~30 KB of JSON each):
- upsert: 1 PUT = $0.000005; delete: free (DELETE requests are not charged).
- query, warm cache: ceil(N / 1000) LISTs, e.g. N = 10,000 -> 10 LISTs = $0.00005.
- query, cold cache (a new Lambda instance): N GETs, e.g. 10,000 -> $0.004 once per instance.
- storage: 10,000 vectors ~ 0.3 GB -> ~$0.007 per month.

Amazon S3 Vectors (offload.ai.s3_vectors) is the images pack's default; this adapter stays for small
indexes queried often from warm instances, and where S3 Vectors is not offered (docs/vector-search.md).

Scale limit (docs/cost.md has bench/search.py's figures): fine up to tens of thousands of images. The
cache holds ~12 KB per 1,536-dim vector (~120 MB at 10,000), a cold load of 10,000 objects takes ~10-30 s
with 16 parallel GETs, and a brute-force query costs ~1.3 s of CPU per 10,000 vectors on Python 3.11
(less on 3.12+, which has math.sumprod; more on Lambda memory sizes below 1,769 MB = 1 vCPU). Above that,
use Amazon S3 Vectors or OpenSearch (approximate nearest-neighbour search) behind the same `VectorIndex`
port.
"""

from __future__ import annotations

import heapq
import json
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from offload.ai.ports import VectorMatch
from offload.ai.vector_filter import check_filter, matches

MAX_S3_KEY_BYTES = 1024
# Python 3.12+ has a C dot product, several times faster than the generator fallback.
_dot: Callable[[Iterable[float], Iterable[float]], float] = getattr(
    math, "sumprod", lambda a, b: sum(map(operator.mul, a, b))
)
_GET_THREADS = 16


@dataclass(frozen=True)
class _Entry:
    """A stored vector, prepared for ranking: doubles in an array (4x smaller than a float list) and its norm."""

    key: str
    vector: array[float]
    norm: float
    metadata: dict[str, Any]


def cosine_similarity(a: list[float], b: list[float]) -> float:
    """Cosine of the angle between `a` and `b` (0.0 when either is all zeros)."""
    if len(a) != len(b):
        raise ValueError(f"vectors have different dimensions ({len(a)} and {len(b)}): compare vectors of one model")
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(x * x for x in b))
    return _dot(a, b) / norms if norms else 0.0


def _entry(key: str, vector: Iterable[float], metadata: dict[str, Any]) -> _Entry:
    values = array("d", vector)
    return _Entry(key, values, math.sqrt(sum(x * x for x in values)), metadata)


def _check_vector(key: str, vector: list[float]) -> None:
    if not vector:
        raise ValueError(f"vector for {key!r} is empty: pass the embedding's floats")
    if not all(math.isfinite(x) for x in vector):
        raise ValueError(f"vector for {key!r} contains NaN or infinity: re-embed the text")


def _passing(entries: Iterable[_Entry], flt: Mapping[str, Any] | None) -> Iterable[_Entry]:
    """The entries whose metadata passes `flt` (all of them without one); a malformed filter raises FilterError."""
    if not flt:
        return entries
    check_filter(flt)
    return [e for e in entries if matches(flt, e.metadata)]


def _rank(query: list[float], entries: Iterable[_Entry], limit: int) -> list[VectorMatch]:
    """The `limit` entries most similar to `query`, highest first (ties by key, for stable output)."""
    if limit < 1:
        raise ValueError(f"limit={limit}: ask for at least 1 result")
    _check_vector("the query", query)
    q = array("d", query)
    q_norm = math.sqrt(sum(x * x for x in q))
    scored: list[tuple[float, str, _Entry]] = []
    for entry in entries:
        if len(entry.vector) != len(q):
            raise ValueError(
                f"stored vector {entry.key!r} has {len(entry.vector)} dimensions, the query has {len(q)}: "
                "use the same embedding model for both, or a separate index per model"
            )
        norms = q_norm * entry.norm
        score = _dot(q, entry.vector) / norms if norms else 0.0
        scored.append((score, entry.key, entry))
    best = heapq.nsmallest(limit, scored, key=lambda item: (-item[0], item[1]))
    return [VectorMatch(e.key, score, dict(e.metadata)) for score, _, e in best]


class InMemoryVectorIndex:
    """VectorIndex in a dict: for unit tests and single-process tools."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def upsert(self, key: str, vector: list[float], metadata: dict[str, Any]) -> None:
        """Insert or replace `key`."""
        _check_vector(key, vector)
        self._entries[key] = _entry(key, vector, dict(metadata))

    def query(self, vector: list[float], limit: int = 10, filter: Mapping[str, Any] | None = None) -> list[VectorMatch]:
        """Nearest by cosine similarity, highest first, among the entries whose metadata passes `filter`."""
        return _rank(vector, _passing(self._entries.values(), filter), limit)

    def delete(self, key: str) -> None:
        """Remove `key` if present."""
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class S3VectorIndex:
    """VectorIndex as one JSON object per vector under an S3 prefix (see the module docstring)."""

    def __init__(self, s3: Any, bucket: str, prefix: str = "vectors/") -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        # object key -> (ETag, entry): lets a query skip GETs for objects it has already read.
        self._cache: dict[str, tuple[str, _Entry]] = {}

    def object_key(self, key: str) -> str:
        """The S3 key that stores `key` (quoted, so any key is one object directly under the prefix)."""
        return f"{self._prefix}{quote(key, safe='')}.json"

    def upsert(self, key: str, vector: list[float], metadata: dict[str, Any]) -> None:
        """One PUT; the cache is updated with the new ETag so the next query does not re-read it."""
        _check_vector(key, vector)
        object_key = self.object_key(key)
        if len(object_key.encode("utf-8")) > MAX_S3_KEY_BYTES:
            raise ValueError(f"key {key[:60]!r}... is too long for an S3 object key: use an id or a hash")
        try:
            body = json.dumps({"key": key, "vector": vector, "metadata": metadata}, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"metadata for {key!r} is not JSON-serialisable ({exc}): store strings, numbers, lists and dicts"
            ) from None
        response = self._s3.put_object(
            Bucket=self._bucket, Key=object_key, Body=body.encode("utf-8"), ContentType="application/json"
        )
        self._cache[object_key] = (response["ETag"], _entry(key, vector, json.loads(json.dumps(metadata))))

    def query(self, vector: list[float], limit: int = 10, filter: Mapping[str, Any] | None = None) -> list[VectorMatch]:
        """Sync the cache with the prefix (LIST + GETs of changed objects), then rank by cosine the
        entries whose metadata passes `filter`."""
        self._sync()
        return _rank(vector, _passing((entry for _, entry in self._cache.values()), filter), limit)

    def delete(self, key: str) -> None:
        """One DELETE (S3 does not fail on a missing key)."""
        object_key = self.object_key(key)
        self._s3.delete_object(Bucket=self._bucket, Key=object_key)
        self._cache.pop(object_key, None)

    def _sync(self) -> None:
        listed: dict[str, str] = {}
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(self._prefix) :]
                if "/" not in rest and rest.endswith(".json"):
                    listed[obj["Key"]] = obj["ETag"]
        for gone in self._cache.keys() - listed.keys():
            del self._cache[gone]
        stale = [k for k, etag in listed.items() if k not in self._cache or self._cache[k][0] != etag]
        if not stale:
            return
        with ThreadPoolExecutor(max_workers=min(_GET_THREADS, len(stale))) as pool:
            for object_key, loaded in zip(stale, pool.map(self._get, stale), strict=True):
                if loaded is not None:
                    self._cache[object_key] = loaded

    def _get(self, object_key: str) -> tuple[str, _Entry] | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=object_key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None  # deleted between the LIST and the GET
            raise
        raw = json.loads(response["Body"].read())
        return response["ETag"], _entry(str(raw["key"]), raw["vector"], dict(raw.get("metadata") or {}))
