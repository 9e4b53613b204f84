"""The moderation pack on the local cloud, driven from the CLI and the HTTP API as a user would: an uploaded
image is moderated by its pipeline, a held one has no served outputs until a reviewer approves it, and the
moderation job types (text, image, report, appeal) run from `offload moderation ...`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import botocore.session
import pytest

from offload.client import OffloadClient
from offload.local import samples
from offload.local.cloud import free_port
from tests.e2e.conftest import LocalStack, start_local, stop_local


@pytest.fixture(scope="module")
def stack(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, OffloadClient]]:
    port = free_port()
    local = start_local(cdk_out, tmp_path_factory.mktemp("moderation"), ("--api-port", str(port)))
    session = botocore.session.get_session()
    session.set_credentials("local", "local")
    session.set_config_variable("region", "us-east-1")
    yield local, OffloadClient(f"http://127.0.0.1:{port}", session=session)
    stop_local(local)


def _media_bucket(local: LocalStack) -> str:
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    return str(json.loads(outputs["ClientConfig"])["packs"]["images"]["media_bucket"])


def _wait_completed(local: LocalStack, key: str, timeout_s: float = 90) -> dict:
    deadline = time.time() + timeout_s
    while True:
        done = local.cli("images", "get", key, "--json", check=False)
        record = json.loads(done.stdout) if done.returncode == 0 else None
        if record and record["status"] in ("completed", "failed"):
            return record
        assert time.time() < deadline, f"{key} is {record and record['status']} after {timeout_s}s"
        time.sleep(1)


def test_a_held_upload_has_no_served_outputs_until_a_reviewer_approves_it(stack) -> None:
    local, api = stack
    key = "uploads/images/moderated sunset.jpg"
    local.client("s3").put_object(Bucket=_media_bucket(local), Key=key, Body=samples.sunset(800, 600))

    record = _wait_completed(local, key)

    assert record["status"] == "completed", record.get("error")
    assert record["variants"], "the pipeline still makes the variants; serving them is what waits"
    # No AI key on the local cloud: the local moderator can't see images, so the image is held for review.
    assert record["moderation"]["status"] == "flagged"
    held = api.request("GET", f"/images/{quote(key, safe='')}")
    assert held["variants"] == [] and "cannot see images" in held["withheld"]
    queue = json.loads(local.cli("moderation", "review", "--json").stdout)
    assert f"image:{key}" in [r["key"] for r in queue]

    local.cli("moderation", "approve", f"image:{key}", "--by", "ana", "--note", "a landscape")

    served = api.request("GET", f"/images/{quote(key, safe='')}")
    assert "withheld" not in served and len(served["variants"]) == len(record["variants"])
    history = json.loads(local.cli("moderation", "get", f"image:{key}", "--json").stdout)["history"]
    assert [(h["action"], h["status"]) for h in history] == [("moderated", "flagged"), ("review", "approved")]
    assert history[-1]["by"] == "ana"


def test_text_reports_and_appeals_run_as_jobs_from_the_cli(stack) -> None:
    local, _ = stack

    flagged = json.loads(local.cli("moderation", "text", "I will kill you", "--id", "comment-7").stdout)
    clean = json.loads(local.cli("moderation", "text", "what a lovely view", "--id", "comment-8").stdout)
    reports = [
        json.loads(local.cli("moderation", "report", "text:comment-8", "--by", who, "--reason", "spam").stdout)
        for who in ("u1", "u2", "u3")
    ]
    appeal = json.loads(
        local.cli("moderation", "appeal", "text:comment-8", "approve", "--by", "ben", "--note", "not spam").stdout
    )

    assert flagged["status"] == "flagged" and flagged["over"] == {"violence": 1.0}
    assert clean["status"] == "approved"
    assert [r["escalated"] for r in reports] == [False, False, True]
    assert reports[-1]["status"] == "flagged"
    assert appeal["status"] == "approved"
    history = json.loads(local.cli("moderation", "get", "text:comment-8", "--json").stdout)["history"]
    assert [h["action"] for h in history] == ["moderated", "escalated", "appeal"]
