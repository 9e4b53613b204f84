"""Moderation through the real openai SDK against the loopback OpenAI-compatible server, and the pack's
jobs on moto (DynamoDB, S3, SNS) run by the real worker: verdicts, held outputs, reports, decisions."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from offload.ai.moderation import IMAGE_CATEGORIES
from offload.ai.openai_moderation import OpenAIModerator
from offload.aws import Clients
from offload.errors import NonRetryableError, RateLimitedError
from offload.media.records import new_record
from offload.packs.images.store import ImageRecord, ImageStore
from offload.packs.moderation.service import Moderation, served
from offload.runtime import Runtime
from offload.testing.aws import catch_alerts, drain_bodies
from offload.testing.openai_server import MODERATION_INPUT_TYPES, FakeOpenAIServer, api_error, moderation
from offload.testing.worker import run_job

REGION = "us-east-1"
MEDIA_BUCKET = "offload-test-media"
IMAGES_TABLE = "offload-test-images"
MODERATION_TABLE = "offload-test-moderation"
KEY = "uploads/images/cat.jpg"


def jpeg(colour: str = "orange", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def _table(name: str) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )


def wired(runtime: Runtime, **options: Any) -> Runtime:
    """The runtime with the moderation and images packs' resources in moto, and the given pack options."""
    packs = {
        "moderation": {"moderation_table": MODERATION_TABLE, "media_bucket": MEDIA_BUCKET, "options": options},
        "images": {"media_bucket": MEDIA_BUCKET, "images_table": IMAGES_TABLE},
    }
    return Runtime(
        runtime.settings.model_copy(update={"packs": packs}), Clients(region=REGION), catalog=runtime.catalog
    )


@pytest.fixture
def rt(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    for name in ("API_KEY", "API_KEY_SECRET_ARN", "BASE_URL", "MODERATION_MODEL"):
        monkeypatch.delenv(f"OFFLOAD_AI_{name}", raising=False)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=MEDIA_BUCKET)
    _table(IMAGES_TABLE)
    _table(MODERATION_TABLE)
    return wired(runtime)


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """OpenAI configured (key and base URL) and pointing at the loopback server."""
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OFFLOAD_AI_API_KEY", "sk-test")
        monkeypatch.setenv("OFFLOAD_AI_BASE_URL", server.base_url)
        yield server


def completed_image(key: str = KEY) -> ImageRecord:
    """An uploaded image whose pipeline finished: an original in S3 and a record with variants."""
    body = jpeg()
    boto3.client("s3", region_name=REGION).put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body)
    store = ImageStore(boto3.client("dynamodb", region_name=REGION), IMAGES_TABLE)
    store.register(new_record(ImageRecord, {"bucket": MEDIA_BUCKET, "key": key, "etag": "e1", "size": len(body)}))
    store.update(key, "processing")
    variants = [{"kind": "thumbnail", "width": 64, "height": 48, "format": "webp", "bytes": 10, "key": "variants/t"}]
    done = store.update(key, "completed", variants=variants)
    assert done is not None
    return done


def image_doc(rt: Runtime, key: str = KEY) -> dict[str, Any]:
    record = ImageStore(rt.clients.dynamodb, IMAGES_TABLE).get(key)
    assert record is not None
    return record.model_dump(mode="json")


# -- the OpenAI adapter ------------------------------------------------------------------------


def test_text_is_sent_to_omni_moderation_as_a_text_item_and_every_text_category_is_checked(
    openai_server: FakeOpenAIServer, openai_client: Any
) -> None:
    openai_server.script(moderation({"harassment": 0.81, "violence": 0.05}))

    answer = OpenAIModerator(openai_client).text("you are an idiot")

    (request,) = openai_server.requests
    assert request.path == "/v1/moderations"
    assert request.body == {"model": "omni-moderation-latest", "input": [{"type": "text", "text": "you are an idiot"}]}
    assert answer.checked == sorted(MODERATION_INPUT_TYPES)
    assert answer.scores["harassment"] == 0.81 and answer.provider_flagged is True


def test_an_image_is_sent_as_a_jpeg_data_url_and_only_image_categories_count_as_checked(
    openai_server: FakeOpenAIServer, openai_client: Any
) -> None:
    openai_server.script(moderation({"sexual": 0.3, "harassment": 0.9}, input_type="image"))

    answer = OpenAIModerator(openai_client).image(jpeg(size=(4000, 100)))

    (item,) = openai_server.requests[0].body["input"]
    assert item["type"] == "image_url"
    prefix, data = item["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/jpeg;base64"
    sent = Image.open(io.BytesIO(base64.b64decode(data)))
    assert sent.format == "JPEG" and max(sent.size) <= 2048
    assert set(answer.checked) == IMAGE_CATEGORIES
    assert "harassment" not in answer.scores  # scored by the API, but not applied to images


def test_a_rate_limited_moderation_waits_for_the_retry_after(
    openai_server: FakeOpenAIServer, openai_client: Any
) -> None:
    openai_server.script(api_error(429, "slow down", error_type="requests", retry_after="7"))

    with pytest.raises(RateLimitedError) as caught:
        OpenAIModerator(openai_client).text("hello")

    assert caught.value.retry_after_s == 7


def test_a_bad_request_is_not_retried(openai_server: FakeOpenAIServer, openai_client: Any) -> None:
    openai_server.script(api_error(400, "Invalid value for 'input'"))

    with pytest.raises(NonRetryableError, match="Invalid value for 'input'"):
        OpenAIModerator(openai_client).text("hello")


# -- the jobs ----------------------------------------------------------------------------------


def test_moderate_text_flags_at_the_catalogs_threshold_and_records_the_scores(
    rt: Runtime, openai: FakeOpenAIServer
) -> None:
    openai.script(moderation({"violence": 0.72}))

    job = run_job(rt, "moderate.text", {"text": "a threat", "id": "comment-1"})

    assert job.status.value == "completed", job.error
    assert job.result["status"] == "flagged" and job.result["over"] == {"violence": 0.72}
    record = Moderation(rt).store.get("text:comment-1")
    assert record is not None and record.excerpt == "a threat"
    assert [h["action"] for h in record.history] == ["moderated"]
    assert record.history[0]["by"] == "openai:omni-moderation-latest"


def test_a_higher_category_threshold_in_the_catalog_lets_the_same_score_pass(
    rt: Runtime, openai: FakeOpenAIServer
) -> None:
    lenient = wired(rt, thresholds={"violence": 0.9})
    openai.script(moderation({"violence": 0.72}))

    job = run_job(lenient, "moderate.text", {"text": "a threat", "id": "comment-2"})

    assert job.result["status"] == "approved", job.result
    assert "checked: " in job.result["reason"]


def test_an_image_the_local_moderator_cannot_see_is_held_and_its_variants_are_withheld(rt: Runtime) -> None:
    completed_image()

    job = run_job(rt, "moderate.image", {"key": KEY})

    assert job.result["status"] == "flagged" and job.result["verdict"] == "unchecked"
    doc = image_doc(rt)
    assert doc["moderation"]["status"] == "flagged" and doc["status"] == "completed"
    shown = served(rt, "image", doc)
    assert shown["variants"] == [] and "cannot see images" in shown["withheld"]
    assert f"offload moderation approve image:{KEY}" in shown["withheld"]


def test_with_unchecked_pass_the_image_is_served_but_still_says_unchecked(rt: Runtime) -> None:
    completed_image()

    job = run_job(wired(rt, unchecked="pass"), "moderate.image", {"key": KEY})

    assert (job.result["status"], job.result["verdict"]) == ("approved", "unchecked")
    assert served(rt, "image", image_doc(rt))["variants"]


def test_a_reviewers_approval_serves_the_outputs_and_is_kept_with_who_and_why(rt: Runtime) -> None:
    completed_image()
    run_job(rt, "moderate.image", {"key": KEY})

    Moderation(rt).human_decision(KEY, "approve", by="ana", note="a cat, harmless")

    assert served(rt, "image", image_doc(rt))["variants"][0]["key"] == "variants/t"
    record = Moderation(rt).store.get(f"image:{KEY}")
    assert record is not None
    assert [(h["action"], h["status"]) for h in record.history] == [("moderated", "flagged"), ("review", "approved")]
    assert record.history[1]["by"] == "ana" and record.history[1]["note"] == "a cat, harmless"


def test_distinct_reporters_escalate_once_with_one_admin_alert(rt: Runtime, openai: FakeOpenAIServer) -> None:
    completed_image()
    openai.script(moderation({"violence": 0.01}, input_type="image"))
    assert run_job(rt, "moderate.image", {"key": KEY}).result["status"] == "approved"
    alerts = catch_alerts(rt.settings)

    results = [
        run_job(rt, "moderation.report", {"subject": f"image:{KEY}", "reporter": who, "reason": "gore"}).result
        for who in ("u1", "u1", "u2", "u3", "u4")
    ]

    assert [r["reporters"] for r in results] == [1, 1, 2, 3, 4]
    assert [r["escalated"] for r in results] == [False, False, False, True, False]
    assert results[3]["status"] == "flagged"
    assert served(rt, "image", image_doc(rt))["variants"] == []
    (alert,) = drain_bodies(alerts)
    assert f"image:{KEY} escalated" in alert["Subject"] and "offload moderation approve" in alert["Message"]


def test_an_appeal_records_the_human_decision_and_a_later_machine_verdict_keeps_it(rt: Runtime) -> None:
    completed_image()
    run_job(rt, "moderate.image", {"key": KEY})
    Moderation(rt).human_decision(f"image:{KEY}", "reject", by="ana", note="not allowed")

    appeal = run_job(
        rt,
        "moderation.appeal",
        {"subject": f"image:{KEY}", "decision": "approve", "reviewer": "ben", "note": "context: a vet's photo"},
    )
    assert appeal.result["status"] == "approved"
    Moderation(rt).human_decision(f"image:{KEY}", "reject", by="cy", note="second look")
    again = run_job(rt, "moderate.image", {"key": KEY})  # a machine verdict can't undo a rejection

    assert again.result["status"] == "rejected"
    record = Moderation(rt).store.get(f"image:{KEY}")
    assert record is not None
    actions = [(h["action"], h.get("by"), h["status"]) for h in record.history]
    assert actions == [
        ("moderated", "local:local-wordlist-v1", "flagged"),
        ("review", "ana", "rejected"),
        ("appeal", "ben", "approved"),
        ("review", "cy", "rejected"),
    ]


def test_an_appeal_on_an_item_never_moderated_fails_with_the_fix(rt: Runtime) -> None:
    job = run_job(rt, "moderation.appeal", {"subject": "text:nope", "decision": "approve", "reviewer": "ana"})

    assert job.status.value == "failed"
    assert job.error is not None and "no moderation record for text:nope: moderate it first" in job.error.reason


def test_moderate_video_flags_when_one_sampled_frame_crosses_a_threshold(
    rt: Runtime, openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    from offload.media.video import samples

    clip = samples.landscape(tmp_path / "clip.mp4", duration_s=2.0)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=MEDIA_BUCKET, Key="uploads/videos/clip.mp4", Body=clip.read_bytes()
    )
    openai.script(
        moderation({"violence": 0.1}, input_type="image"),
        moderation({"violence/graphic": 0.93}, input_type="image"),
        moderation({"violence": 0.2}, input_type="image"),
    )

    job = run_job(rt, "moderate.video", {"key": "uploads/videos/clip.mp4", "frames": 3})

    assert job.status.value == "completed", job.error
    assert job.result["status"] == "flagged" and job.result["frames"] == 3
    assert job.result["over"] == {"violence/graphic": 0.93}
    record = Moderation(rt).store.get("video:uploads/videos/clip.mp4")
    assert record is not None
    assert [r["frame_s"] for r in record.results] == [
        pytest.approx(1 / 3, abs=0.01),
        1.0,
        pytest.approx(5 / 3, abs=0.01),
    ]
    assert all(json.loads(json.dumps(r))["input"] == "image" for r in record.results)
