"""The generation steps on moto, each clip driven as the state machine drives it (Wait states skipped).

`drive_clip` follows the Clips Map's item: Submit -> (waiting: Submit again | in progress: Poll) ... ->
Download, each call with the state machine's retries (RetryableError: 3 more tries), and any error into
ClipFailed with `error` and `failed_step` set as the Catch sets them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from offload.errors import NonRetryableError, RetryableError
from offload.media.records import new_record
from offload.packs.generate.steps import Generation
from offload.packs.generate.store import GenerationRecord
from offload.runtime import Runtime

REGION = "us-east-1"
BUCKET = "offload-test-generate"
TABLE = "offload-test-generations"
MODEL = "gateway-video-1"
RETRIES = 3  # the state machine's provider_retries


def generation(rt: Runtime, gateway: Any, **options: Any) -> Generation:
    """A Generation on a fresh moto bucket and table, the openai provider on `gateway`, local images."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )
    chosen = {"provider": "openai", "model": MODEL, "base_url": gateway.base_url, "images": "local", **options}
    pack = {"media_bucket": BUCKET, "generations_table": TABLE, "options": chosen}
    wired = rt.settings.model_copy(update={"packs": {**rt.settings.packs, "generate": pack}})
    return Generation(Runtime(wired, rt.clients, rt.catalog))


def call(g: Generation, step: str, state: dict[str, Any]) -> dict[str, Any]:
    """One Lambda invocation, through the JSON the state machine would pass."""
    return json.loads(json.dumps(g.run(step, json.loads(json.dumps(state)))))


def script(g: Generation, *, scenes: int, job_id: str = "job-1", run: str = "run-1") -> dict[str, Any]:
    """Register the run as the starter does, then Script and every scene image."""
    data = {
        "scenes": [{"text": f"scene {i}", "visual": f"a harbour, shot {i}", "seconds": 2} for i in range(scenes)],
        "size": "320x180",
    }
    record = new_record(GenerationRecord, {"key": job_id, "bucket": BUCKET, "version_id": run}, provider="openai")
    g.store.register(record)
    state = call(g, "script", {"job_id": job_id, "run": run, "data": data, "execution_arn": f"arn:{run}"})
    for scene in state["scenes"]:
        call(g, "image", {**_item(state, scene["index"])})
    return state


def _item(state: dict[str, Any], index: int) -> dict[str, Any]:
    keep = {k: state[k] for k in ("job_id", "run", "data", "execution_arn")}
    return {**keep, "scene": state["scenes"][index]}


@dataclass
class Outcome:
    status: str
    waits: list[int] = field(default_factory=list)
    retries: int = 0


def drive_clip(g: Generation, state: dict[str, Any], index: int) -> Outcome:
    outcome = Outcome("running")
    current = _item(state, index)
    step = "submit"

    def retried(name: str, st: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(RETRIES + 1):
            try:
                return call(g, name, st)
            except RetryableError:
                if attempt == RETRIES:
                    raise
                outcome.retries += 1
        raise AssertionError("unreachable")

    try:
        current = retried(step, current)
        for _ in range(100):
            status = current["clip"]["status"]
            if status == "completed":
                outcome.status = "completed"
                return outcome
            if status == "ready":
                step = "download"
            else:
                outcome.waits.append(current["clip"]["wait_s"])
                step = "submit" if status == "waiting" else "poll"
            current = retried(step, current)
        raise AssertionError("the clip never settled")
    except (RetryableError, NonRetryableError) as exc:
        error = {"Error": type(exc).__name__, "Cause": json.dumps({"errorMessage": str(exc)})}
        call(g, "clip_failed", {**current, "error": error, "failed_step": step})
        outcome.status = "failed"
        return outcome


def drive_submit_only(g: Generation, state: dict[str, Any], index: int) -> dict[str, Any]:
    """Submit one clip and stop there (the execution was stopped while it ran)."""
    return call(g, "submit", _item(state, index))


def merge_outcome(g: Generation, state: dict[str, Any]) -> str:
    """The error Merge ends with (the test expects one)."""
    try:
        call(g, "merge", state)
    except NonRetryableError as exc:
        return str(exc)
    raise AssertionError("merge did not fail")
