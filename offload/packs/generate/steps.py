"""The generation state machine's steps. Each is one short Lambda call; every wait is a Wait state.

    Script -> Map Images -> Map Clips (per scene: Submit -> Route -> Wait -> Poll -> Route ... -> Download,
    any error -> ClipFailed) -> Merge -> Wait -> PublishPoll ... -> Complete
    any other failure -> Fail

What each scene made is kept in S3 next to it (`generated/<job>/`: `script.json`, `scenes/<n>.png`,
`clips/<n>.mp4` and `clips/<n>.json` with the provider job, timings and cost), so a retried job (a new
execution) skips what is already there: only failed or unfinished clips are made again.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offload.ai.generation import ClipProvider, ClipRequest, ContentRefusedError, Scene
from offload.errors import NonRetryableError, RateLimitedError
from offload.jobs.handoff import failure_info, finish_handed_off
from offload.jobs.model import now_iso
from offload.media.records import failure, version_tag
from offload.observability import logger
from offload.packs.core.http_util import Allowlist
from offload.packs.generate import PROVIDER_LIMIT, WORK_PREFIX
from offload.packs.generate.options import GenerateData, GenerateOptions
from offload.packs.generate.settings import GenerateSettings, generate_settings
from offload.packs.generate.store import GenerationRecord, GenerationStore
from offload.settings import SettingsError

if TYPE_CHECKING:
    from offload.ai.generation import SceneImager, ScriptWriter
    from offload.runtime import Runtime

# Job progress (0-100) at the start of each stage; clips and publishing fill their ranges as they go.
PROGRESS = {"script": 2, "images": 8, "clips": 20, "merge": 75, "publish": 82, "complete": 100}


def job_root(job_id: str) -> str:
    return f"{WORK_PREFIX}{job_id}/"


def script_key(job_id: str) -> str:
    """The generation's script (its scenes), written by the script step."""
    return f"{job_root(job_id)}script.json"


def merged_key(job_id: str) -> str:
    """The merged video, handed to the video pipeline (outputs under videos/generated/<job>.mp4/)."""
    return f"{WORK_PREFIX}{job_id}.mp4"


class S3Blobs:
    """The local provider's store (offload.ai.video_providers.BlobStore) in the media bucket."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        from boto3.s3.transfer import S3Transfer

        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.transfer = S3Transfer(s3)

    def put_file(self, key: str, path: Path) -> None:
        self.transfer.upload_file(str(path), self.bucket, self.prefix + key, extra_args={"ContentType": "video/mp4"})

    def get_file(self, key: str, dest: Path) -> Path:
        self.transfer.download_file(self.bucket, self.prefix + key, str(dest))
        return dest

    def exists(self, key: str) -> bool:
        return _exists(self.s3, self.bucket, self.prefix + key)


@dataclass
class Generation:
    """The resources the steps use, built once per Lambda container."""

    rt: Runtime

    @cached_property
    def settings(self) -> GenerateSettings:
        try:
            return generate_settings(self.rt)
        except SettingsError as exc:
            raise NonRetryableError(str(exc)) from None

    @cached_property
    def options(self) -> GenerateOptions:
        return GenerateOptions.model_validate(self.settings.options)

    @cached_property
    def store(self) -> GenerationStore:
        return GenerationStore(self.rt.clients.dynamodb, self.settings.generations_table)

    @property
    def bucket(self) -> str:
        return self.settings.media_bucket

    @cached_property
    def blobs(self) -> S3Blobs:
        """The media bucket as a BlobStore (whole keys: no prefix); the local provider's is under its own."""
        return S3Blobs(self.rt.clients.s3, self.bucket, "")

    def provider(self, name: str, model: str | None) -> ClipProvider:
        from offload.ai.factory import AiSettings
        from offload.ai.video_providers import ClipProviderSettings, build_clip_provider

        o, ai = self.options, AiSettings.from_env()
        chosen = ClipProviderSettings(
            provider=name,  # type: ignore[arg-type]
            model=model or (o.model if name == o.provider else None),
            base_url=o.base_url if name == o.provider else None,
            api_key=ai.api_key if not o.provider_key_secret_arn else None,
            api_key_secret_arn=o.provider_key_secret_arn or ai.api_key_secret_arn,
            local_latency_s=o.local_latency_s,
        )
        blobs = S3Blobs(self.rt.clients.s3, self.bucket, f"{WORK_PREFIX}local-provider/")
        return build_clip_provider(chosen, blobs=blobs, secrets=self.rt.clients.client("secretsmanager"))

    @cached_property
    def writers(self) -> tuple[ScriptWriter, SceneImager]:
        from offload.ai.factory import AiSettings
        from offload.ai.generation_factory import GenerationAiSettings, build_script_and_imager

        ai = AiSettings.from_env()  # the stack's AI key (OFFLOAD_AI_*), as the image pipeline uses it
        settings = GenerationAiSettings(
            api_key=ai.api_key,
            api_key_secret_arn=ai.api_key_secret_arn,
            base_url=ai.base_url,
            timeout_s=ai.timeout_s,
            images="local" if self.options.images == "local" else "openai",
        )
        return build_script_and_imager(
            settings,
            secrets=self.rt.clients.client("secretsmanager"),
            allow=Allowlist.parse(self.rt.settings.http_allow_hosts),
        )

    # -- S3 state ---------------------------------------------------------------------
    def put_json(self, key: str, doc: Any) -> None:
        self.rt.clients.s3.put_object(
            Bucket=self.bucket, Key=key, Body=json.dumps(doc).encode(), ContentType="application/json"
        )

    def get_json(self, key: str) -> Any | None:
        s3 = self.rt.clients.s3
        try:
            return json.loads(s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    def exists(self, key: str) -> bool:
        return _exists(self.rt.clients.s3, self.bucket, key)

    def clip_state(self, job_id: str, index: int) -> dict[str, Any]:
        return self.get_json(f"{job_root(job_id)}clips/{index}.json") or {"index": index, "status": "pending"}

    def save_clip_state(self, job_id: str, index: int, **fields: Any) -> dict[str, Any]:
        doc = {**self.clip_state(job_id, index), **fields, "index": index, "updated_at": now_iso()}
        self.put_json(f"{job_root(job_id)}clips/{index}.json", doc)
        return doc

    def scenes(self, job_id: str) -> list[Scene]:
        doc = self.get_json(script_key(job_id))
        if doc is None:
            raise NonRetryableError(f"the script of {job_id} is missing from s3://{self.bucket}/{job_root(job_id)}")
        return [Scene.model_validate(s) for s in doc["scenes"]]

    # -- the job and its record ----------------------------------------------------------
    def record(self, state: dict[str, Any], status: Any, **fields: Any) -> GenerationRecord | None:
        return self.store.update(state["job_id"], status, version=state["run"], **fields)

    def progress(self, state: dict[str, Any], percent: int) -> None:
        self.rt.store.set_progress(state["job_id"], max(0, min(99, percent)))

    def run(self, step: str, state: dict[str, Any]) -> dict[str, Any]:
        """Run one step; errors leave as RetryableError, RateLimitedError or NonRetryableError."""
        from offload.media.pipeline import run_step

        return run_step(self, _HANDLERS, step, state, log_keys={"job_id": state.get("job_id")})


def _exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _data(state: dict[str, Any]) -> GenerateData:
    return GenerateData.model_validate(state["data"])


def _script(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """The scenes: given, written earlier (a retry), or written now by the LLM."""
    data, job_id = _data(state), state["job_id"]
    g.record(state, "processing", stage="script")
    g.progress(state, PROGRESS["script"])
    existing = g.get_json(script_key(job_id))
    if existing is not None:
        scenes = [Scene.model_validate(s) for s in existing["scenes"]]
    elif data.scenes is not None:
        scenes = list(data.scenes)
    else:
        writer, _ = g.writers
        assert data.prompt is not None
        scenes = writer.write(
            data.prompt, style=data.style, clip_seconds=data.clip_seconds, max_scenes=g.options.max_scenes
        )
        logger.info("script written", scenes=len(scenes), model=writer.model)
    if existing is None:
        g.put_json(script_key(job_id), {"scenes": [s.model_dump() for s in scenes]})
    g.record(state, "processing", stage="images", scenes_total=len(scenes))
    g.progress(state, PROGRESS["images"])
    provider = data.provider or g.options.provider  # the Map routes the local provider's submit to ffmpeg
    items = [{"index": i, "seconds": s.seconds, "provider": provider} for i, s in enumerate(scenes)]
    return {**state, "scenes": items}


def _image(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """One scene's picture, unless a run before this one made it."""
    job_id, index = state["job_id"], state["scene"]["index"]
    key = f"{job_root(job_id)}scenes/{index}.png"
    if not g.exists(key):
        data = _data(state)
        scene = g.scenes(job_id)[index]
        _, imager = g.writers
        width, height = data.dimensions
        png = imager.render(scene, style=data.style, width=width, height=height)
        g.rt.clients.s3.put_object(Bucket=g.bucket, Key=key, Body=png, ContentType="image/png")
    return {"index": index, "image": key}


def _clip_item(state: dict[str, Any]) -> dict[str, Any]:
    return state.get("clip") or {}


def _submit(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """Submit one scene's clip (or find it finished by an earlier run), under the shared provider limit."""
    job_id, index, data = state["job_id"], state["scene"]["index"], _data(state)
    saved = g.clip_state(job_id, index)
    if saved.get("status") == "completed" and g.exists(saved.get("key", "")):
        return {**state, "clip": {"status": "completed", "reused": True}}
    provider_name = data.provider or g.options.provider
    provider = g.provider(provider_name, data.model)
    limit = g.rt.catalog.resource_limits.get(PROVIDER_LIMIT)
    try:
        if limit is not None and g.rt.rate_limiter is not None and provider_name != "local":
            g.rt.rate_limiter.acquire_or_raise(PROVIDER_LIMIT, limit)
        scene = g.scenes(job_id)[index]
        width, height = data.dimensions
        image = g.rt.clients.s3.get_object(Bucket=g.bucket, Key=f"{job_root(job_id)}scenes/{index}.png")["Body"].read()
        request = ClipRequest(
            prompt=_clip_prompt(scene, data.style),
            seconds=scene.seconds,
            width=width,
            height=height,
            image_png=image,
            caption=scene.text,
        )
        provider_job = provider.submit(request)
    except RateLimitedError as exc:
        # A 429 or the shared limit: wait it out in a Wait state, without using an attempt.
        return {**state, "clip": {"status": "waiting", "wait_s": _wait_s(exc.retry_after_s)}}
    g.save_clip_state(
        job_id,
        index,
        status="in_progress",
        provider=provider.name,
        model=provider.model,
        provider_job_id=provider_job,
        submitted_at=now_iso(),
        submitted_ts=time.time(),
        polls=0,
        error=None,
    )
    clip = {"status": "in_progress", "job": provider_job, "polls": 0, "wait_s": g.options.poll_interval_s}
    return {**state, "clip": clip}


def _clip_prompt(scene: Scene, style: str | None) -> str:
    return f"{scene.visual}. Style: {style}." if style else scene.visual


def _wait_s(seconds: float) -> int:
    return max(1, min(3600, int(seconds + 0.999)))


def _poll(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """One look at the provider's job; the state machine waits `wait_s` and asks again."""
    job_id, index, data = state["job_id"], state["scene"]["index"], _data(state)
    clip = dict(_clip_item(state))
    provider = g.provider(data.provider or g.options.provider, data.model)
    try:
        status = provider.poll(clip["job"])
    except RateLimitedError as exc:
        return {**state, "clip": {**clip, "wait_s": _wait_s(exc.retry_after_s)}}  # not counted as a poll
    if status.state == "completed":
        return {**state, "clip": {**clip, "status": "ready"}}
    if status.state == "failed":
        if status.refused:
            raise ContentRefusedError(provider.name, status.error or "no reason given")
        raise NonRetryableError(f"{provider.name} could not make the clip: {status.error or 'no reason given'}")
    polls = int(clip.get("polls", 0)) + 1
    if polls >= g.options.max_polls:
        provider.cancel(clip["job"])
        minutes = g.options.clip_timeout_s / 60
        raise NonRetryableError(f"provider did not finish in {minutes:g} min ({polls} polls); job {clip['job']}")
    g.save_clip_state(job_id, index, polls=polls, provider_progress=status.progress)
    return {**state, "clip": {**clip, "status": "in_progress", "polls": polls, "wait_s": g.options.poll_interval_s}}


def _download(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """Copy the finished clip to S3 and record its timings and cost."""
    job_id, index, data = state["job_id"], state["scene"]["index"], _data(state)
    clip = _clip_item(state)
    provider = g.provider(data.provider or g.options.provider, data.model)
    key = f"{job_root(job_id)}clips/{index}.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        path = provider.download(clip["job"], Path(tmp) / "clip.mp4")  # the adapters check it is an MP4
        size = path.stat().st_size
        g.blobs.put_file(key, path)
    saved = g.clip_state(job_id, index)
    took = time.time() - float(saved.get("submitted_ts") or time.time())
    g.save_clip_state(
        job_id,
        index,
        status="completed",
        key=key,
        bytes=size,
        completed_at=now_iso(),
        seconds_taken=round(took, 3),
        cost_usd=provider.cost_usd(float(state["scene"]["seconds"])),
        error=None,
    )
    record = g.store.increment(job_id, "clips_done", version=state["run"])
    if record is not None and record.scenes_total:
        span = PROGRESS["merge"] - PROGRESS["clips"]
        g.progress(state, PROGRESS["clips"] + span * record.clips_done // record.scenes_total)
    return {**state, "clip": {"status": "completed"}}


def _clip_failed(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """The Map item's Catch: the scene's failure is recorded and the other clips go on."""
    step, reason = failure({**state, "failed_step": state.get("failed_step", "clip")})
    index = state["scene"]["index"]
    g.save_clip_state(state["job_id"], index, status="failed", error={"step": step, "reason": reason})
    logger.warning("clip failed", scene=index, step=step, reason=reason)
    return {"index": index, "status": "failed"}


def _merge(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """Every clip, in order (without failed scenes when the job allows it), as one video for the pipeline."""
    from offload.media.video.merge import merge_clips
    from offload.packs.video.starter import start_media

    job_id, data = state["job_id"], _data(state)
    states = [g.clip_state(job_id, item["index"]) for item in state["scenes"]]
    failed = [s for s in states if s.get("status") != "completed"]
    if failed and (not data.skip_failed_scenes or len(failed) == len(states)):
        first = failed[0]
        reason = (first.get("error") or {}).get("reason", "it did not finish")
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise NonRetryableError(f"scene {first['index'] + 1} of {len(states)} failed{more}: {reason}")
    g.record(state, "processing", stage="merge")
    g.progress(state, PROGRESS["merge"])
    width, height = data.dimensions
    done = [s for s in states if s.get("status") == "completed"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for s in done:
            path = Path(tmp) / f"clip{s['index']}.mp4"
            g.blobs.get_file(s["key"], path)
            paths.append(path)
        out = Path(tmp) / "merged.mp4"
        merged = merge_clips(paths, out, width=width, height=height)
        facts = merged.facts
        for s, seconds in zip(done, merged.clip_durations_s, strict=True):
            g.save_clip_state(job_id, s["index"], duration_s=seconds)
        key = merged_key(job_id)
        put = g.rt.clients.s3.put_object(
            Bucket=g.bucket, Key=key, Body=out.read_bytes(), ContentType="video/mp4", Metadata={"job-id": job_id}
        )
        size = out.stat().st_size
    upload = {"bucket": g.bucket, "key": key, "size": size, "etag": put["ETag"].strip('"')}
    if put.get("VersionId"):
        upload["version_id"] = put["VersionId"]
    started = start_media(g.rt, upload)
    g.record(state, "processing", stage="publish", video_key=key)
    g.progress(state, PROGRESS["publish"])
    merged_doc = {"key": key, "duration_s": facts.duration_s, "bytes": size, "scenes": [s["index"] for s in done]}
    publish = {"upload": upload, "status": started["status"], "polls": 0, "wait_s": g.options.poll_interval_s}
    return {**state, "merged": merged_doc, "publish": publish}


def _publish_poll(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """Has the video pipeline finished the merged video?"""
    from offload.packs.video.steps import VideoPipeline

    publish = dict(state["publish"])
    video = VideoPipeline(g.rt).store.get(publish["upload"]["key"])
    if video is not None and version_tag(video.model_dump()) != version_tag(publish["upload"]):
        video = None  # a record of another version: ours is not registered yet
    if video is not None and video.status == "completed":
        return {**state, "publish": {**publish, "status": "completed"}}
    if video is not None and video.status in ("failed", "cancelled"):
        err = video.error or {}
        raise NonRetryableError(
            f"the video pipeline {video.status} the merged video at {err.get('step', '?')}: {err.get('reason', '')}"
        )
    polls = int(publish.get("polls", 0)) + 1
    if polls >= g.options.publish_max_polls:
        raise NonRetryableError(f"the video pipeline did not finish the merged video in {polls} polls")
    g.progress(state, PROGRESS["publish"] + min(16, polls))
    return {**state, "publish": {**publish, "status": "processing", "polls": polls}}


def _complete(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    """The job's result: the outputs, per-scene timings, provider job ids and the cost estimate."""
    from offload.packs.video.steps import VideoPipeline

    job_id = state["job_id"]
    video = VideoPipeline(g.rt).store.get(state["publish"]["upload"]["key"])
    outputs = _output_keys(video.outputs if video is not None else {})
    scenes = []
    for item in state["scenes"]:
        s = g.clip_state(job_id, item["index"])
        scenes.append(
            {
                "index": item["index"],
                "status": s.get("status"),
                "provider": s.get("provider"),
                "provider_job_id": s.get("provider_job_id"),
                "clip_key": s.get("key"),
                "duration_s": s.get("duration_s"),
                "submitted_at": s.get("submitted_at"),
                "completed_at": s.get("completed_at"),
                "seconds_taken": s.get("seconds_taken"),
                "polls": s.get("polls"),
                "cost_usd": s.get("cost_usd"),
                "error": s.get("error"),
            }
        )
    costs = [s["cost_usd"] for s in scenes if s["cost_usd"] is not None]
    cost = round(sum(costs), 4) if costs else None
    result = {
        "video_key": state["merged"]["key"],
        "duration_s": state["merged"]["duration_s"],
        "outputs": outputs,
        "scenes": scenes,
        "provider_cost_usd": cost,
        "execution_arn": state.get("execution_arn"),
    }
    g.record(state, "completed", stage="completed", outputs=outputs, cost_usd=cost, completed_at=now_iso())
    finish_handed_off(g.rt, job_id, execution_arn=state["execution_arn"], result=result)
    return {"job_id": job_id, "status": "completed"}


def _output_keys(outputs: Any) -> dict[str, Any]:
    """{kind: key} of the video record's outputs (the MP4, the HLS master, the poster, ...)."""
    found: dict[str, Any] = {}
    for out in outputs or []:
        if isinstance(out, dict) and out.get("kind") and out.get("key"):
            found.setdefault(out["kind"], out["key"])
    return found


def _fail(g: Generation, state: dict[str, Any]) -> dict[str, Any]:
    step, reason = failure(state)
    g.record(state, "failed", stage=step, error={"step": step, "reason": reason}, error_message=reason)
    finish_handed_off(g.rt, state["job_id"], execution_arn=state["execution_arn"], error=failure_info(step, reason))
    return {"job_id": state["job_id"], "status": "failed", "step": step, "reason": reason}


_HANDLERS: dict[str, Callable[[Generation, dict[str, Any]], dict[str, Any]]] = {
    "script": _script,
    "image": _image,
    "submit": _submit,
    "poll": _poll,
    "download": _download,
    "clip_failed": _clip_failed,
    "merge": _merge,
    "publish_poll": _publish_poll,
    "complete": _complete,
    "fail": _fail,
}
