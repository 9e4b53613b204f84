"""QueryVectors for moto's S3 Vectors, which stores vector buckets, indexes and vectors but can't search them.

`add_query_vectors()` registers the operation on moto's s3vectors service: an exact search over the
index's stored vectors (cosine distance = 1 - cosine similarity, or euclidean, as the index says), with
metadata filters (offload.ai.vector_filter, the service's syntax), answering in AWS's response shape.
AWS's own engine is approximate; on small local indexes exact search gives the same nearest vectors.

It is applied where the stop_moto_delivering patch is: in this process for in-process moto (test fixtures,
the local cloud's thread mode) and in the moto server process (offload.local.moto_server). The canary in
tests/integration/test_moto_canary.py fails once moto answers QueryVectors itself: then this can go.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

_PATH = "{0}/QueryVectors$"


def add_query_vectors() -> Callable[[], None]:
    """Make moto's s3vectors answer QueryVectors (idempotent); returns the undo."""
    from moto.s3vectors import urls
    from moto.s3vectors.responses import S3VectorsResponse

    if _PATH in urls.url_paths:
        return lambda: None
    urls.url_paths[_PATH] = S3VectorsResponse.dispatch
    S3VectorsResponse.query_vectors = _query_vectors  # type: ignore[attr-defined]

    def undo() -> None:
        urls.url_paths.pop(_PATH, None)
        delattr(S3VectorsResponse, "query_vectors")

    return undo


def _query_vectors(self: Any) -> Any:
    """The QueryVectors handler, as a method of moto's S3VectorsResponse."""
    from moto.core.responses import ActionResult
    from moto.s3vectors.exceptions import ValidationError

    from offload.ai.vector_filter import FilterError, check_filter, matches

    index = self.s3vectors_backend.get_index(
        vector_bucket_name=self._get_param("vectorBucketName"),
        index_name=self._get_param("indexName"),
        index_arn=self._get_param("indexArn"),
    )
    query = (self._get_param("queryVector") or {}).get("float32") or []
    top_k = int(self._get_param("topK") or 0)
    flt = self._get_param("filter")
    if len(query) != index.dimension:
        raise ValidationError(f"Query vector dimension {len(query)} does not match index dimension {index.dimension}")
    if top_k < 1:
        raise ValidationError("1 validation error detected. Value at '/topK' failed to satisfy constraint: >= 1")
    if flt:
        try:
            check_filter(flt)
        except FilterError as exc:
            raise ValidationError(f"Invalid filter: {exc}") from None
    distance = _euclidean if index.distance_metric == "euclidean" else _cosine_distance
    candidates = (
        (distance(query, v.data["float32"]), v.key, v) for v in index.vectors.values() if matches(flt, v.metadata or {})
    )
    best = heapq.nsmallest(top_k, candidates, key=lambda item: (item[0], item[1]))
    want_metadata = self._get_bool_param("returnMetadata", False)
    want_distance = self._get_bool_param("returnDistance", False)
    vectors = []
    for d, key, vector in best:
        hit: dict[str, Any] = {"key": key}
        if want_distance:
            hit["distance"] = d
        if want_metadata:
            hit["metadata"] = vector.metadata or {}
        vectors.append(hit)
    return ActionResult({"vectors": vectors, "distanceMetric": index.distance_metric})


def _cosine_distance(a: list[float], b: list[float]) -> float:
    from offload.ai.vector_index import cosine_similarity

    return 1.0 - cosine_similarity(a, b)


def _euclidean(a: list[float], b: list[float]) -> float:
    return math.dist(a, b)
