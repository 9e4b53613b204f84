"""The S3 Vectors adapter of the vector-index port on moto, queried through the local QueryVectors shim.

moto stores the vector bucket, the index and the vectors (PutVectors, DeleteVectors, GetIndex ...);
offload.local.s3vectors_query answers QueryVectors over them (the `aws` fixture turns it on), as the
local cloud's moto server does.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from offload.ai.onnx_embedder import OnnxMiniLMEmbedder
from offload.ai.s3_vectors import S3VectorsIndex, ensure_index, index_name_for
from offload.ai.vector_filter import FilterError
from tests.unit.test_onnx_embedder import DOCS, QUERIES

REGION = "us-east-1"
BUCKET = "offload-test-vectors"


@pytest.fixture
def client(aws: None) -> Any:
    c = boto3.client("s3vectors", region_name=REGION)
    c.create_vector_bucket(vectorBucketName=BUCKET, encryptionConfiguration={"sseType": "AES256"})
    return c


@pytest.fixture
def index(client: Any) -> S3VectorsIndex:
    ensure_index(client, BUCKET, "images-test-3", 3)
    idx = S3VectorsIndex(client, BUCKET, "images-test-3")
    idx.upsert("cat.jpg", [1.0, 0.0, 0.0], {"status": "indexed", "tags": ["cat", "pet"], "mood": "calm"})
    idx.upsert("dog.jpg", [0.8, 0.6, 0.0], {"status": "indexed", "tags": ["dog", "pet"], "mood": "playful"})
    idx.upsert("car.jpg", [0.0, 0.0, 1.0], {"status": "pending", "tags": ["car"], "thumbnail": None})
    return idx


def test_query_returns_the_nearest_first_with_cosine_scores(index: S3VectorsIndex) -> None:
    matches = index.query([1.0, 0.1, 0.0], limit=3)

    assert [m.key for m in matches] == ["cat.jpg", "dog.jpg", "car.jpg"]
    assert matches[0].score == pytest.approx(1 / (1.01**0.5), abs=1e-6)
    assert matches[2].score == pytest.approx(0.0, abs=1e-6)
    assert matches[0].metadata == {"status": "indexed", "tags": ["cat", "pet"], "mood": "calm"}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"status": "indexed"}, ["cat.jpg", "dog.jpg"]),
        ({"status": {"$ne": "indexed"}}, ["car.jpg"]),
        ({"tags": {"$in": ["dog", "car"]}}, ["dog.jpg", "car.jpg"]),
        ({"tags": "pet"}, ["cat.jpg", "dog.jpg"]),
        ({"$and": [{"tags": "pet"}, {"mood": {"$ne": "calm"}}]}, ["dog.jpg"]),
        ({"$or": [{"mood": "calm"}, {"status": "pending"}]}, ["cat.jpg", "car.jpg"]),
        ({"mood": {"$exists": False}}, ["car.jpg"]),
        ({"moderation": "approved"}, []),
    ],
)
def test_metadata_filters_keep_only_the_vectors_that_pass(
    index: S3VectorsIndex, flt: dict[str, Any], expected: list[str]
) -> None:
    assert [m.key for m in index.query([1.0, 0.1, 0.0], limit=3, filter=flt)] == expected


def test_a_malformed_filter_is_refused_before_the_call_naming_the_operator(index: S3VectorsIndex) -> None:
    with pytest.raises(FilterError, match=r"unknown operator '\$like'"):
        index.query([1.0, 0.0, 0.0], filter={"tags": {"$like": "ca%"}})


def test_upsert_replaces_and_delete_removes(index: S3VectorsIndex) -> None:
    index.upsert("car.jpg", [1.0, 0.0, 0.0], {"status": "indexed"})
    index.delete("cat.jpg")
    index.delete("never-there.jpg")

    matches = index.query([1.0, 0.0, 0.0], limit=3)

    assert [m.key for m in matches] == ["car.jpg", "dog.jpg"]
    assert matches[0].metadata == {"status": "indexed"}


def test_upsert_many_writes_in_batches_of_500(client: Any) -> None:
    ensure_index(client, BUCKET, "images-bulk-2", 2)
    idx = S3VectorsIndex(client, BUCKET, "images-bulk-2")
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.s3vectors.PutVectors", lambda params, **_: calls.append(len(params["vectors"]))
    )

    written = idx.upsert_many((f"k{i}", [1.0, i / 1200], {"n": i}) for i in range(1201))

    assert written == 1201 and calls == [500, 500, 201]
    assert idx.query([1.0, 0.0], limit=1)[0].key == "k0"


def test_a_query_of_another_dimension_says_to_reindex(index: S3VectorsIndex) -> None:
    with pytest.raises(ValueError, match=r"different embedding model.*offload images reindex"):
        index.query([1.0, 0.0])


def test_a_missing_index_says_how_to_make_it(client: Any) -> None:
    with pytest.raises(LookupError, match=r"does not exist.*reindex"):
        S3VectorsIndex(client, BUCKET, "images-nothing-3").query([1.0, 0.0, 0.0])


def test_ensure_index_creates_once_and_refuses_another_size(client: Any) -> None:
    assert ensure_index(client, BUCKET, "images-x-4", 4) is True
    assert ensure_index(client, BUCKET, "images-x-4", 4) is False
    with pytest.raises(ValueError, match="has 4 dimensions, the embedder gives 8"):
        ensure_index(client, BUCKET, "images-x-4", 8)
    made = client.get_index(vectorBucketName=BUCKET, indexName="images-x-4")["index"]
    assert (made["dimension"], made["distanceMetric"], made["dataType"]) == (4, "cosine", "float32")


def test_the_shim_answers_in_the_aws_shape_and_honours_euclidean_indexes(client: Any) -> None:
    client.create_index(
        vectorBucketName=BUCKET, indexName="euclid", dataType="float32", dimension=2, distanceMetric="euclidean"
    )
    client.put_vectors(
        vectorBucketName=BUCKET,
        indexName="euclid",
        vectors=[
            {"key": "near", "data": {"float32": [3.0, 4.0]}},
            {"key": "far", "data": {"float32": [30.0, 40.0]}, "metadata": {"kind": "far"}},
        ],
    )

    resp = client.query_vectors(
        vectorBucketName=BUCKET, indexName="euclid", queryVector={"float32": [0.0, 0.0]}, topK=2, returnDistance=True
    )

    assert resp["distanceMetric"] == "euclidean"
    assert [(v["key"], v["distance"]) for v in resp["vectors"]] == [("near", 5.0), ("far", 50.0)]
    assert all("metadata" not in v for v in resp["vectors"])  # only when returnMetadata is asked for


def test_index_names_follow_the_model_and_size_within_the_63_character_limit() -> None:
    assert index_name_for("images", "all-MiniLM-L6-v2-onnx-int8", 384) == "images-all-minilm-l6-v2-onnx-int8-384"
    assert index_name_for("images", "text-embedding-3-small", 1536) == "images-text-embedding-3-small-1536"
    long = index_name_for("images", "org/" + "x" * 100, 3072)
    assert len(long) == 63 and long.endswith("-3072")


def test_offline_search_through_s3_vectors_is_semantic(client: Any) -> None:
    """The labelled set of the ONNX embedder's tests, end to end through the adapter and the shim."""
    embedder = OnnxMiniLMEmbedder()
    name = index_name_for("images", embedder.model, embedder.dimensions)
    ensure_index(client, BUCKET, name, embedder.dimensions)
    idx = S3VectorsIndex(client, BUCKET, name)
    idx.upsert_many(
        (key, vector, {"description": DOCS[key], "status": "indexed"})
        for key, vector in zip(DOCS, embedder.embed(list(DOCS.values())), strict=True)
    )

    vectors = embedder.embed(list(QUERIES))
    found = {
        q: idx.query(v, limit=1, filter={"status": "indexed"})[0].key for q, v in zip(QUERIES, vectors, strict=True)
    }

    assert found == QUERIES


def test_the_local_cloud_creates_the_templates_vector_bucket_and_index(aws: None) -> None:
    from pathlib import Path

    from offload.local.provision import Provisioner
    from offload.local.template import Template

    body = {
        "Resources": {
            "Vectors": {
                "Type": "AWS::S3Vectors::VectorBucket",
                "Properties": {"EncryptionConfiguration": {"SseType": "AES256"}},
            },
            "Index": {
                "Type": "AWS::S3Vectors::Index",
                "Properties": {
                    "VectorBucketArn": {"Fn::GetAtt": ["Vectors", "VectorBucketArn"]},
                    "IndexName": "images-m-8",
                    "DataType": "float32",
                    "Dimension": 8,
                    "DistanceMetric": "cosine",
                    "MetadataConfiguration": {"NonFilterableMetadataKeys": ["description"]},
                },
            },
        }
    }
    provisioned = Provisioner(
        Template(stack_name="Local", body=body, assets_dir=Path(".")), lambda s: boto3.client(s, region_name=REGION)
    ).run()

    bucket = provisioned.resolver.refs["Vectors"]
    made = boto3.client("s3vectors", region_name=REGION).get_index(vectorBucketName=bucket, indexName="images-m-8")
    assert (made["index"]["dimension"], made["index"]["distanceMetric"]) == (8, "cosine")
    assert provisioned.resolver.attrs["Index"]["IndexArn"].endswith(f"bucket/{bucket}/index/images-m-8")
