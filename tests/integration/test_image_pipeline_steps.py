"""The image pipeline's steps, run in the state machine's order on moto (S3, DynamoDB, SNS).

`run_execution` plays the state machine: each task calls `ImagePipeline.run(step, state)`,
the one entry point the pipeline Lambda has, and a step's error goes to the `fail` step
with `failed_step` and `error` set the way the Catch sets them.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from PIL import Image

from offload.aws import Clients
from offload.errors import JobError
from offload.media.records import new_record
from offload.packs.images.steps import ImagePipeline
from offload.packs.images.store import ImageRecord, ImageStore
from offload.runtime import Runtime
from offload.settings import Settings
from offload.testing.aws import catch_alerts, create_records_table, drain_bodies
from offload.testing.openai_server import FakeOpenAIServer, chat_completion, embeddings

REGION = "us-east-1"
MEDIA_BUCKET = "offload-test-media"
IMAGES_TABLE = "offload-test-images"
VECTOR_BUCKET = "offload-test-vectors"
TASKS = ("inspect", "metadata", "variants", "embed", "index", "complete")
ANSWER = {
    "description": "A grey gradient.",
    "tags": ["gradient", "grey"],
    "category": "graphic",
    "dominant_colors": ["#808080"],
    "mood": "calm",
}


@pytest.fixture
def pipeline(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> ImagePipeline:
    """The pipeline on a moto media bucket and images table (the stack's key schema), local AI."""
    for name in ("API_KEY", "API_KEY_SECRET_ARN", "BASE_URL", "VISION_MODEL", "EMBEDDING_MODEL"):
        monkeypatch.delenv(f"OFFLOAD_AI_{name}", raising=False)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=MEDIA_BUCKET)
    create_records_table(boto3.client("dynamodb", region_name=REGION), IMAGES_TABLE)
    boto3.client("s3vectors", region_name=REGION).create_vector_bucket(vectorBucketName=VECTOR_BUCKET)
    images = {"media_bucket": MEDIA_BUCKET, "images_table": IMAGES_TABLE, "vector_bucket": VECTOR_BUCKET}
    wired = settings.model_copy(update={"packs": {"images": images}})
    return ImagePipeline(Runtime(wired, Clients(region=REGION)))


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """OpenAI configured (key and base URL) and pointing at the loopback server."""
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OFFLOAD_AI_API_KEY", "sk-test")
        monkeypatch.setenv("OFFLOAD_AI_BASE_URL", server.base_url)
        yield server


def upload(key: str, body: bytes) -> dict[str, Any]:
    """Put the object and return the `image` the starter job hands the execution."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body)
    head = s3.head_object(Bucket=MEDIA_BUCKET, Key=key)
    return {"bucket": MEDIA_BUCKET, "key": key, "etag": head["ETag"].strip('"'), "size": len(body)}


def run_execution(pipeline: ImagePipeline, image: dict[str, Any]) -> dict[str, Any]:
    """Register the upload as the starter does, then run the tasks in order; an error goes to `fail`."""
    assert pipeline.store.register(new_record(ImageRecord, image))
    state: dict[str, Any] = {"image": image}
    for step in TASKS:
        try:
            state = pipeline.run(step, state)
        except JobError as exc:
            cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
            failed = {**state, "failed_step": step, "error": {"Error": type(exc).__name__, "Cause": cause}}
            return pipeline.run("fail", failed)
    return state


def grey16_png(size: tuple[int, int] = (1200, 800)) -> bytes:
    """A 16-bit greyscale PNG (mode I;16) with values over the whole 0..65535 range."""
    gradient = Image.linear_gradient("L").resize(size).convert("I").point(lambda v: v * 257)
    out = io.BytesIO()
    gradient.convert("I;16").save(out, format="PNG")
    assert Image.open(io.BytesIO(out.getvalue())).mode == "I;16"
    return out.getvalue()


def test_a_16_bit_greyscale_png_ends_completed_with_variants_and_metadata(pipeline: ImagePipeline) -> None:
    key = "uploads/images/scan-16bit.png"

    end = run_execution(pipeline, upload(key, grey16_png()))

    record = ImageStore(pipeline.rt.clients.dynamodb, IMAGES_TABLE).get(key)
    assert record is not None
    assert (end.get("status"), record.status) == ("completed", "completed"), record.error
    assert (record.format, record.width, record.height) == ("PNG", 1200, 800)
    assert record.metadata is not None and (record.metadata["width"], record.metadata["height"]) == (1200, 800)
    assert record.metadata["dominant_colors"] and "grayscale" in record.metadata["mood"]
    widths = sorted(v["width"] for v in record.variants if v["kind"] == "variant")
    assert widths == [640, 640, 1024, 1024]
    assert record.embedding is not None and record.embedding["dimensions"] > 0


def test_a_tiff_with_openai_configured_is_described_from_a_small_jpeg(
    pipeline: ImagePipeline, openai_server: FakeOpenAIServer
) -> None:
    key = "uploads/images/scan.tiff"
    tiff = io.BytesIO()
    Image.effect_noise((2600, 1800), 40).convert("RGB").save(tiff, format="TIFF")  # ~14 MB, uncompressed
    openai_server.script(chat_completion(json.dumps(ANSWER)), embeddings([[0.5] * 1536]))

    end = run_execution(pipeline, upload(key, tiff.getvalue()))

    record = ImageStore(pipeline.rt.clients.dynamodb, IMAGES_TABLE).get(key)
    assert record is not None
    assert (end.get("status"), record.status) == ("completed", "completed"), record.error
    assert record.metadata is not None and record.metadata["provider"] == "openai"
    chat = next(r for r in openai_server.requests if r.path == "/v1/chat/completions")
    parts = chat.body["messages"][0]["content"]
    url = next(p for p in parts if p["type"] == "image_url")["image_url"]["url"]
    header, payload = url.split(",", 1)
    sent = base64.b64decode(payload)
    assert header == "data:image/jpeg;base64"
    assert Image.open(io.BytesIO(sent)).format == "JPEG"
    assert max(Image.open(io.BytesIO(sent)).size) <= 2048 and len(sent) < 2 * 1024 * 1024


def test_an_upload_that_is_not_an_image_fails_at_inspect_with_its_reason_and_alerts(pipeline: ImagePipeline) -> None:
    key = "uploads/images/notes.png"
    alerts = catch_alerts(pipeline.rt.settings)

    end = run_execution(pipeline, upload(key, b"shopping list: eggs, milk"))

    record = ImageStore(pipeline.rt.clients.dynamodb, IMAGES_TABLE).get(key)
    assert record is not None and record.status == "failed" and end["status"] == "failed"
    assert record.error is not None and record.error["step"] == "inspect"
    assert record.error["reason"].startswith("not an image")
    [alert] = drain_bodies(alerts)
    assert alert["Subject"].startswith("offload: image") and key in alert["Subject"]
    body = alert["Message"]
    assert "Step: inspect" in body and "Reason: not an image" in body
    assert f"Inspect it: offload images get {key}" in body and "Retry it" in body


# --- image records: one conditional write per status change, from IMAGE_LIFECYCLE ---------------


def registered(pipeline: ImagePipeline, key: str, version_id: str) -> ImageStore:
    store = pipeline.store
    assert store.register(
        new_record(ImageRecord, {"bucket": MEDIA_BUCKET, "key": key, "version_id": version_id, "size": 10})
    )
    return store


def test_a_finished_record_never_moves_and_keeps_its_fields(pipeline: ImagePipeline) -> None:
    store = registered(pipeline, "uploads/images/a.png", "v1")
    assert store.update("uploads/images/a.png", "processing", version="v1", width=10) is not None
    assert store.update("uploads/images/a.png", "completed", version="v1") is not None

    for status in ("processing", "failed", "cancelled", "completed"):
        assert store.update("uploads/images/a.png", status, version="v1", width=99) is None
    assert store.annotate("uploads/images/a.png", execution_arn="arn:late") is None

    record = store.get("uploads/images/a.png")
    assert record is not None and (record.status, record.width, record.execution_arn) == ("completed", 10, None)


def test_completed_is_reached_only_from_processing(pipeline: ImagePipeline) -> None:
    store = registered(pipeline, "uploads/images/b.png", "v1")

    assert store.update("uploads/images/b.png", "completed", version="v1") is None

    record = store.get("uploads/images/b.png")
    assert record is not None and record.status == "pending"


def test_a_step_of_an_older_version_cannot_touch_the_record_of_a_new_upload(pipeline: ImagePipeline) -> None:
    store = registered(pipeline, "uploads/images/c.png", "v1")
    assert store.update("uploads/images/c.png", "processing", version="v1") is not None
    assert store.register(
        new_record(ImageRecord, {"bucket": MEDIA_BUCKET, "key": "uploads/images/c.png", "version_id": "v2"})
    )

    assert store.update("uploads/images/c.png", "failed", version="v1", error={"step": "x", "reason": "y"}) is None

    record = store.get("uploads/images/c.png")
    assert record is not None and (record.status, record.version_id, record.error) == ("pending", "v2", None)


def test_a_new_version_of_a_finished_upload_starts_again_from_pending(pipeline: ImagePipeline) -> None:
    store = registered(pipeline, "uploads/images/d.png", "v1")
    store.update("uploads/images/d.png", "failed", version="v1", error={"step": "inspect", "reason": "bad"})

    assert not store.register(
        new_record(ImageRecord, {"bucket": MEDIA_BUCKET, "key": "uploads/images/d.png", "version_id": "v1"})
    )
    assert store.register(
        new_record(ImageRecord, {"bucket": MEDIA_BUCKET, "key": "uploads/images/d.png", "version_id": "v2"})
    )

    record = store.get("uploads/images/d.png")
    assert record is not None and (record.status, record.version_id, record.error) == ("pending", "v2", None)


def test_an_update_of_a_missing_record_creates_nothing(pipeline: ImagePipeline) -> None:
    assert pipeline.store.update("uploads/images/never.png", "processing", width=1) is None
    assert pipeline.store.get("uploads/images/never.png") is None


def test_a_status_change_is_one_conditional_write_and_no_read(pipeline: ImagePipeline) -> None:
    store = registered(pipeline, "uploads/images/e.png", "v1")
    calls: list[str] = []
    pipeline.rt.clients.dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )

    store.update("uploads/images/e.png", "processing", version="v1", width=3)

    assert calls == ["UpdateItem"]
