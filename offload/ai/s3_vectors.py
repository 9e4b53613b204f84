"""The VectorIndex port on Amazon S3 Vectors: a vector bucket's index, searched by the service.

Facts this adapter relies on (boto3 `s3vectors`, checked against botocore's service model):
- PutVectors takes at most 500 vectors per call, `{"key", "data": {"float32": [...]}, "metadata"}`;
  DeleteVectors at most 500 keys; writes are upserts by key.
- QueryVectors(vectorBucketName, indexName, queryVector={"float32": [...]}, topK, filter,
  returnMetadata, returnDistance) answers `{"vectors": [{"key", "distance", "metadata"}], "distanceMetric"}`,
  nearest first; for a cosine index distance = 1 - cosine similarity, so score = 1 - distance.
- Metadata values are strings, numbers, booleans or lists of them (no nulls): None values are dropped.
  Keys listed as non-filterable in the index's MetadataConfiguration are returned but can't be filtered on.
- Query filters use offload.ai.vector_filter's syntax ($eq, $ne, $in, $nin, $exists, $and, $or, ...).

Locally, moto stores vector buckets, indexes and vectors but has no QueryVectors; the local cloud and the
test fixtures add it (offload.local.s3vectors_query), so this same adapter runs offline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from offload.ai.ports import VectorMatch
from offload.ai.vector_filter import check_filter

PUT_BATCH = 500  # PutVectors and DeleteVectors: at most 500 per call
MAX_TOP_K = 100  # QueryVectors' topK ceiling (30 during the preview, 100 since general availability)
# Metadata the images pack stores for display only: non-filterable keys don't count against the 2 KB
# of filterable metadata a vector may carry.
NON_FILTERABLE_KEYS = ("description", "thumbnail")


def index_name_for(prefix: str, model: str, dimensions: int) -> str:
    """The index name for an embedder, e.g. `images-all-minilm-l6-v2-onnx-int8-384`: one index per model
    and size, so changing the embedder means a new index (re-index) rather than mixed vectors.

    Index names are 3-63 characters of lower-case letters, digits, hyphens and dots."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    suffix = f"-{dimensions}"
    head = f"{prefix}-{slug}"[: 63 - len(suffix)].rstrip("-.")
    return head + suffix


def _clean_metadata(key: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in metadata.items():
        if value is None:
            continue  # S3 Vectors has no null: a missing key is how "unknown" is stored
        if isinstance(value, (list, tuple)):
            value = [v for v in value if v is not None]
        if not isinstance(value, (str, int, float, bool, list)):
            raise ValueError(
                f"metadata {name!r} of {key!r} is a {type(value).__name__}: S3 Vectors stores strings, numbers, "
                "booleans and lists of them; flatten it or store it elsewhere"
            )
        clean[name] = value
    return clean


def _vector(key: str, vector: Sequence[float]) -> dict[str, Any]:
    if not vector:
        raise ValueError(f"vector for {key!r} is empty: pass the embedding's floats")
    if not all(math.isfinite(x) for x in vector):
        raise ValueError(f"vector for {key!r} contains NaN or infinity: re-embed the text")
    return {"float32": [float(x) for x in vector]}


class S3VectorsIndex:
    """VectorIndex on one index of an S3 vector bucket (cosine). `client` is boto3's `s3vectors` client."""

    def __init__(self, client: Any, bucket: str, index: str) -> None:
        self._client = client
        self.bucket = bucket
        self.index = index

    def upsert(self, key: str, vector: list[float], metadata: dict[str, Any]) -> None:
        """Insert or replace `key` (one PutVectors call)."""
        self.upsert_many([(key, vector, metadata)])

    def upsert_many(self, items: Iterable[tuple[str, Sequence[float], Mapping[str, Any]]]) -> int:
        """Insert or replace many vectors, 500 per PutVectors call; returns how many were written."""
        batch: list[dict[str, Any]] = []
        written = 0
        for key, vector, metadata in items:
            batch.append({"key": key, "data": _vector(key, vector), "metadata": _clean_metadata(key, metadata)})
            if len(batch) == PUT_BATCH:
                written += self._put(batch)
                batch = []
        if batch:
            written += self._put(batch)
        return written

    def _put(self, batch: list[dict[str, Any]]) -> int:
        try:
            self._client.put_vectors(vectorBucketName=self.bucket, indexName=self.index, vectors=batch)
        except ClientError as exc:
            raise self._explain(exc, "write to") from exc
        return len(batch)

    def query(self, vector: list[float], limit: int = 10, filter: Mapping[str, Any] | None = None) -> list[VectorMatch]:
        """The nearest vectors by cosine, highest score first, among those whose metadata passes `filter`."""
        if not 1 <= limit <= MAX_TOP_K:
            raise ValueError(f"limit={limit}: S3 Vectors returns 1 to {MAX_TOP_K} results per query")
        kwargs: dict[str, Any] = {
            "vectorBucketName": self.bucket,
            "indexName": self.index,
            "queryVector": _vector("the query", vector),
            "topK": limit,
            "returnMetadata": True,
            "returnDistance": True,
        }
        if filter:
            check_filter(filter)
            kwargs["filter"] = dict(filter)
        try:
            response = self._client.query_vectors(**kwargs)
        except ClientError as exc:
            raise self._explain(exc, "query") from exc
        return [
            VectorMatch(str(v["key"]), 1.0 - float(v.get("distance", 1.0)), dict(v.get("metadata") or {}))
            for v in response.get("vectors", [])
        ]

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error (DeleteVectors ignores it)."""
        self.delete_many([key])

    def delete_many(self, keys: Sequence[str]) -> None:
        """Remove keys, 500 per DeleteVectors call."""
        for start in range(0, len(keys), PUT_BATCH):
            try:
                self._client.delete_vectors(
                    vectorBucketName=self.bucket, indexName=self.index, keys=list(keys[start : start + PUT_BATCH])
                )
            except ClientError as exc:
                raise self._explain(exc, "delete from") from exc

    def _explain(self, exc: ClientError, doing: str) -> Exception:
        """A ClientError as an error naming the index and the fix (dimension mismatch, missing index)."""
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", str(exc))
        where = f"S3 Vectors index {self.index!r} in vector bucket {self.bucket!r}"
        if code in ("NotFoundException", "NoSuchIndex", "NoSuchVectorBucket"):
            return LookupError(
                f"could not {doing} {where}: it does not exist ({message}); deploy the stack, or run "
                "`offload images reindex` to build the index for the configured embedder"
            )
        if "dimension" in message.lower():
            return ValueError(
                f"could not {doing} {where}: {message}; the vector comes from a different embedding model than "
                "the index was built for: re-index (`offload images reindex`) or query with the index's model"
            )
        return exc


def ensure_index(
    client: Any,
    bucket: str,
    name: str,
    dimensions: int,
    *,
    non_filterable: Sequence[str] = NON_FILTERABLE_KEYS,
) -> bool:
    """Create the cosine float32 index `name` of `dimensions` in `bucket` unless it exists; True if created.

    An existing index of another size is refused: vectors of two models never share an index."""
    try:
        found = client.get_index(vectorBucketName=bucket, indexName=name)["index"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NotFoundException", "NoSuchIndex"):
            raise
    else:
        if int(found["dimension"]) != dimensions:
            raise ValueError(
                f"S3 Vectors index {name!r} has {found['dimension']} dimensions, the embedder gives {dimensions}: "
                "name the index after the model and size (index_name_for) so each model gets its own"
            )
        return False
    client.create_index(
        vectorBucketName=bucket,
        indexName=name,
        dataType="float32",
        dimension=dimensions,
        distanceMetric="cosine",
        metadataConfiguration={"nonFilterableMetadataKeys": list(non_filterable)},
    )
    return True
