"""The image pipeline on the local cloud: S3 upload -> SQS -> starter job -> state machine -> search."""

from __future__ import annotations

import json
import time

import pytest

from offload.local import samples


@pytest.fixture(scope="module")
def config(local):
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    client_config = json.loads(outputs["ClientConfig"])
    return {**client_config, **client_config["packs"]["images"]}  # the images pack's media_bucket, pipeline_arn


def _record(local, key):
    done = local.cli("images", "get", key, "--json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _wait(local, key, timeout_s=90):
    deadline = time.time() + timeout_s
    while True:
        record = _record(local, key)
        if record and record["status"] in ("completed", "failed"):
            return record
        assert time.time() < deadline, f"{key} is {record and record['status']} after {timeout_s}s"
        time.sleep(1)


def test_an_upload_ends_completed_with_variants_metadata_embedding_and_is_found_by_search(local, config):
    key = "uploads/images/sunset over hills+1 ü.jpg"  # spaces, '+', unicode: S3 URL-encodes event keys
    local.client("s3").put_object(Bucket=config["media_bucket"], Key=key, Body=samples.sunset())

    record = _wait(local, key)

    assert record["status"] == "completed", record.get("error")
    assert (record["width"], record["height"], record["format"]) == (2400, 1600, "JPEG")
    variants = [v for v in record["variants"] if v["kind"] == "variant"]
    assert sorted((v["width"], v["format"]) for v in variants) == [
        (640, "avif"),
        (640, "webp"),
        (1024, "avif"),
        (1024, "webp"),
        (1920, "avif"),
        (1920, "webp"),
    ]
    assert [v["width"] for v in record["variants"] if v["kind"] == "thumbnail"] == [256]
    s3 = local.client("s3")
    for v in record["variants"]:
        head = s3.head_object(Bucket=config["media_bucket"], Key=v["key"])
        assert head["ContentLength"] == v["bytes"] > 0
        assert head["ContentType"] == f"image/{v['format']}" and "immutable" in head["CacheControl"]
    meta = record["metadata"]
    assert meta["description"] and meta["tags"] and meta["dominant_colors"] and meta["mood"]
    assert record["embedding"]["dimensions"] > 0
    hits = json.loads(local.cli("images", "search", "orange sunset landscape", "--json").stdout)
    assert hits and hits[0]["key"] == key and hits[0]["score"] > 0
    # The search ran on the template's S3 Vectors index (moto + the local QueryVectors shim), with filters
    vectors = local.client("s3vectors")
    (bucket,) = [b["vectorBucketName"] for b in vectors.list_vector_buckets()["vectorBuckets"]]
    stored = vectors.get_vectors(
        vectorBucketName=bucket, indexName="images-all-minilm-l6-v2-onnx-int8-384", keys=[key], returnMetadata=True
    )["vectors"]
    assert [v["metadata"]["status"] for v in stored] == ["indexed"]
    filtered = json.loads(local.cli("images", "search", "sunset", "--status", "indexed", "--json").stdout)
    assert [h["key"] for h in filtered][:1] == [key]
    assert json.loads(local.cli("images", "search", "sunset", "--status", "pending", "--json").stdout) == []


def test_reindex_rebuilds_the_index_through_a_job_and_search_keeps_working(local, config):
    key = "uploads/images/reindexed sunset.jpg"
    local.client("s3").put_object(Bucket=config["media_bucket"], Key=key, Body=samples.sunset())
    assert _wait(local, key)["status"] == "completed"

    done = local.cli("images", "reindex", "--timeout", "120", "--json")

    state = json.loads(done.stdout[done.stdout.index("{") :])
    assert state["status"] == "completed" and state["done"] >= 1, done.stdout
    assert state["target"]["name"] == "images-all-minilm-l6-v2-onnx-int8-384"
    hits = json.loads(local.cli("images", "search", "orange sunset landscape", "--json").stdout)
    assert key in [h["key"] for h in hits]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.jpg", "0 bytes"),
        ("interrupted.jpg", "truncated"),
        ("notes.png", "not an image"),
        ("favicon.ico", "unsupported image format ICO"),
        ("bomb.png", "over the 50 MP limit"),
    ],
)
def test_a_bad_upload_ends_failed_with_its_reason_and_the_original_is_kept(local, config, name, reason):
    key = f"uploads/images/bad/{name}"
    body = samples.BAD_INPUTS[name]()
    local.client("s3").put_object(Bucket=config["media_bucket"], Key=key, Body=body)

    record = _wait(local, key)

    assert record["status"] == "failed" and reason in record["error"]["reason"], record["error"]
    assert record["error"]["step"] == "inspect"
    kept = local.client("s3").get_object(Bucket=config["media_bucket"], Key=key)["Body"].read()
    assert kept == body


def test_a_duplicate_s3_event_for_the_same_version_starts_one_execution(local, config):
    key = "uploads/images/twice.png"
    s3 = local.client("s3")
    version = s3.put_object(Bucket=config["media_bucket"], Key=key, Body=samples.logo(400)).get("VersionId")
    _wait(local, key)
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": config["media_bucket"]},
                    "object": {"key": key, "versionId": version, "size": 1},
                },
            }
        ]
    }
    sqs = local.client("sqs")
    sqs.send_message(QueueUrl=config["queues"]["images"]["url"], MessageBody=json.dumps(event))
    time.sleep(4)

    sfn = local.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=config["pipeline_arn"])["executions"]
    from offload.media.records import execution_name

    name = execution_name("img", {"bucket": config["media_bucket"], "key": key, "version_id": version})
    assert [e["name"] for e in executions].count(name) == 1


def test_cancelling_a_running_image_stops_its_execution_and_it_never_completes(local, config):
    from offload.aws import Clients
    from offload.packs.images.search import cancel_image, get_image
    from offload.runtime import Runtime
    from offload.settings import Settings

    rt = Runtime(Settings.model_validate(config), Clients(local.endpoint, "us-east-1"))
    key = "uploads/images/cancel-me.jpg"
    # 35 MP: its variants take a while, so the execution is still running when it is cancelled.
    local.client("s3").put_object(Bucket=config["media_bucket"], Key=key, Body=samples.sunset(7000, 5000))
    deadline = time.time() + 60
    while not ((r := get_image(rt, key)) and r.status == "processing" and r.execution_arn):
        assert time.time() < deadline, "the pipeline did not start"
        time.sleep(0.02)

    cancel_image(rt, key)

    record = _record(local, key)
    assert record["status"] == "cancelled"
    sfn = local.client("stepfunctions")
    deadline = time.time() + 10
    while (status := sfn.describe_execution(executionArn=record["execution_arn"])["status"]) == "RUNNING":
        assert time.time() < deadline, "the execution was not stopped"
        time.sleep(0.2)
    assert status == "ABORTED"
    time.sleep(3)
    assert _record(local, key)["status"] == "cancelled", "a step that was still running did not complete it"
    again = local.cli("images", "cancel", key, check=False)
    assert again.returncode == 1 and "already cancelled" in again.stderr
