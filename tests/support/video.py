"""The video pipeline's steps on moto (S3, DynamoDB, SNS), played in the state machine's order.

`run_execution` is what the Standard state machine does with the step Lambda: Probe, the Kind
choice, Plan, the Transcode Map's tasks, the Join Map's outputs, Package, Complete; an error in a
step goes to `fail` with `failed_step` and `error` set the way the Catch sets them. Map tasks run
one after another here (the local cloud runs the real state machine).
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from offload.aws import Clients
from offload.errors import JobError
from offload.media.records import new_record
from offload.packs.video.steps import VideoPipeline
from offload.packs.video.store import VideoRecord, create_table_request
from offload.runtime import Runtime
from offload.settings import Settings

REGION = "us-east-1"
MEDIA_BUCKET = "offload-test-media"
VIDEOS_TABLE = "offload-test-videos"


def video_pipeline(settings: Settings, **options: Any) -> VideoPipeline:
    """A pipeline on a fresh moto media bucket (versioned) and videos table, with the pack's `options`."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=MEDIA_BUCKET)
    s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    boto3.client("dynamodb", region_name=REGION).create_table(**create_table_request(VIDEOS_TABLE))
    pack = {"media_bucket": MEDIA_BUCKET, "videos_table": VIDEOS_TABLE, "options": options, "scratch_mb": 10240}
    wired = settings.model_copy(update={"packs": {**settings.packs, "video": pack}})
    return VideoPipeline(Runtime(wired, Clients(region=REGION)))


def upload(key: str, body: bytes, **extra: Any) -> dict[str, Any]:
    """Put the object and return the upload the starter job hands the execution."""
    s3 = boto3.client("s3", region_name=REGION)
    put = s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body)
    return {"bucket": MEDIA_BUCKET, "key": key, "version_id": put.get("VersionId"), "size": len(body), **extra}


def call(pipeline: VideoPipeline, step: str, state: dict[str, Any]) -> dict[str, Any]:
    """One Lambda invocation, through the JSON the state machine would pass."""
    return json.loads(json.dumps(pipeline.run(step, json.loads(json.dumps(state)))))


def run_execution(
    pipeline: VideoPipeline, video: dict[str, Any], *, kind: str = "video", **fields: Any
) -> dict[str, Any]:
    """Register the upload as the starter does, then run the state machine's steps in order.

    A live object's execution (kind live_segment or live_end, `stream=` in `fields`) has no record
    of its own: its starter registered the stream's."""
    if kind in ("video", "audio"):
        pipeline.store.register(new_record(VideoRecord, video, kind=kind, stage="probe"))
    state: dict[str, Any] = {"video": video, "kind": kind, **fields}
    step = "probe"
    try:
        state = call(pipeline, "probe", state)
        if state["kind"] == "audio":
            step = "audio"
            state = call(pipeline, "audio", state)
        elif state["kind"] == "video":
            step = "plan"
            state = call(pipeline, "plan", state)
            step = "transcode"
            for task in state["tasks"]:
                call(pipeline, "transcode", {"video": state["video"], "plan": state["plan"], "task": task})
            step = "join"
            joined = [
                call(pipeline, "join", {"video": state["video"], "plan": state["plan"], "output": output})
                for output in state["outputs"]
            ]
            step = "package"
            state = call(pipeline, "package", {**state, "joined": joined})
        else:
            step = state["kind"]
            return call(pipeline, state["kind"], state)
        step = "complete"
        return call(pipeline, "complete", state)
    except JobError as exc:
        error = {"Error": type(exc).__name__, "Cause": json.dumps({"errorMessage": str(exc)})}
        return call(pipeline, "fail", {**state, "failed_step": step, "error": error})


def s3_keys(prefix: str) -> list[str]:
    """Every key under a prefix of the media bucket."""
    s3 = boto3.client("s3", region_name=REGION)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=MEDIA_BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def download(key: str, path: Any) -> Any:
    """One object of the media bucket to a local file."""
    boto3.client("s3", region_name=REGION).download_file(MEDIA_BUCKET, key, str(path))
    return path
