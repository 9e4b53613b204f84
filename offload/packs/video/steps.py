"""The video pipeline's steps: probe -> plan -> transcode (Map) -> join (Map) -> package -> complete (| fail),
and the audio branch (probe -> audio -> complete).

Each step is one Lambda task of the state machine (offload/packs/video/handler.py). The state
carries ids and small facts only: the source stays in S3 (read by a presigned URL, or downloaded
when small), segment parts and the audio go to a work prefix, outputs to `videos/<name>/` (audio
uploads to `audio/<name>/`). Errors leave a step as RetryableError, RateLimitedError or
NonRetryableError (`offload.media.pipeline.run_step`); a bad source is MediaInputError, never retried.
"""

from __future__ import annotations

import mimetypes
import posixpath
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from offload.errors import NonRetryableError
from offload.jobs.notify import Alert, publish_alert
from offload.media.records import failure, version_tag
from offload.media.video.plan import Plan, VideoOptions, WatermarkSpec
from offload.observability import logger
from offload.packs.video import OUTPUT_PREFIX, UPLOAD_PREFIXES
from offload.packs.video.settings import VideoSettings, video_settings
from offload.packs.video.store import VideoRecord, VideoStore
from offload.runtime import Runtime
from offload.settings import SettingsError

WORK_PREFIX = "work/videos/"
CACHE_CONTROL = "public, max-age=31536000, immutable"
# Sources up to this size are downloaded to /tmp once per task; larger ones are read by ffmpeg and
# PyAV through a presigned URL (HTTP range requests), so a task never holds a whole 10 GB upload.
DOWNLOAD_MAX_BYTES = 256 * 1024 * 1024
URL_EXPIRES_S = 6 * 3600
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}


def output_root(key: str) -> str:
    """Where an upload's outputs go: `videos/<name>/` for videos, `audio/<name>/` for audio uploads."""
    if key.startswith(UPLOAD_PREFIXES["audio"]):
        return f"audio/{key.removeprefix(UPLOAD_PREFIXES['audio'])}/"
    return f"{OUTPUT_PREFIX}{key.removeprefix(UPLOAD_PREFIXES['video'])}/"


def work_root(upload: dict[str, Any]) -> str:
    """The execution's scratch prefix (segment parts, audio), deleted by `package`."""
    return f"{WORK_PREFIX}{upload['key']}/{version_tag(upload)}/"


@dataclass
class VideoPipeline:
    """The resources the steps use, built once per Lambda container."""

    rt: Runtime

    @cached_property
    def settings(self) -> VideoSettings:
        try:
            return video_settings(self.rt)
        except SettingsError as exc:
            raise NonRetryableError(str(exc)) from None

    @cached_property
    def store(self) -> VideoStore:
        return VideoStore(self.rt.clients.dynamodb, self.settings.videos_table)

    @cached_property
    def options(self) -> VideoOptions:
        return VideoOptions.model_validate(self.settings.options)

    @cached_property
    def transfer(self) -> Any:
        """Multipart, parallel uploads and downloads (outputs of a long video run to gigabytes)."""
        from boto3.s3.transfer import S3Transfer

        return S3Transfer(self.rt.clients.s3)

    @property
    def bucket(self) -> str:
        return self.settings.media_bucket

    def options_for(self, upload: dict[str, Any]) -> VideoOptions:
        """The catalog's options with the job's own watermark and loudness choices over them."""
        chosen = {k: upload[k] for k in ("watermark", "loudness_normalise") if upload.get(k) is not None}
        return self.options.model_copy(update={**chosen, "watermark": _watermark(chosen, self.options)})

    def source(self, upload: dict[str, Any], workdir: Path) -> str:
        """What ffmpeg and PyAV read: the exact version the event named, downloaded when small."""
        params = {"Bucket": upload["bucket"], "Key": upload["key"]}
        if upload.get("version_id"):
            params["VersionId"] = upload["version_id"]
        size = upload.get("size")
        if size is not None and int(size) <= DOWNLOAD_MAX_BYTES:
            path = workdir / ("source" + (posixpath.splitext(upload["key"])[1] or ".bin"))
            body = self.rt.clients.s3.get_object(**params)["Body"]
            with open(path, "wb") as f:
                for chunk in iter(lambda: body.read(8 * 1024 * 1024), b""):
                    f.write(chunk)
            return str(path)
        return str(self.rt.clients.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=URL_EXPIRES_S))

    def put(
        self, path: Path, key: str, *, immutable: bool = True, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Upload one output or part (with user `metadata`, x-amz-meta-*); returns its key and size."""
        content_type = (
            CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        extra: dict[str, Any] = {"ContentType": content_type}
        if immutable:
            extra["CacheControl"] = CACHE_CONTROL
        if metadata:
            extra["Metadata"] = metadata
        self.transfer.upload_file(str(path), self.bucket, key, extra_args=extra)
        return {"key": key, "bytes": path.stat().st_size}

    def fetch(self, key: str, path: Path) -> Path:
        """Download one object of the media bucket to `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.transfer.download_file(self.bucket, key, str(path))
        return path

    def watermark_png(self, plan: Plan, work: Path) -> Path | None:
        """The plan's watermark as a PNG in `work` (a logo read from the media bucket), or None."""
        from offload.media.video.watermark import watermark_png

        spec = plan.watermark
        if spec is None:
            return None
        logo = None
        if spec.image_key:
            s3 = self.rt.clients.s3
            try:
                logo = s3.get_object(Bucket=self.bucket, Key=spec.image_key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                raise NonRetryableError(
                    f"the watermark logo s3://{self.bucket}/{spec.image_key} does not exist: "
                    "upload it or fix watermark.image_key"
                ) from None
        return watermark_png(spec, work / "watermark.png", logo=logo)

    def record(self, state: dict[str, Any], status: Any, **fields: Any) -> VideoRecord | None:
        """Move the execution's record to `status` with `fields` (refused, None, once it is final or
        about another version of the object)."""
        upload = state["video"]
        return self.store.update(upload["key"], status, version=version_tag(upload), **fields)

    def run(self, step: str, state: dict[str, Any]) -> dict[str, Any]:
        """Run one step; errors leave as RetryableError, RateLimitedError or NonRetryableError."""
        from offload.media.pipeline import run_step

        return run_step(self, _HANDLERS, step, state, log_keys={"video_key": state.get("video", {}).get("key")})


def _watermark(chosen: dict[str, Any], options: VideoOptions) -> WatermarkSpec | None:
    if "watermark" in chosen:
        return WatermarkSpec.model_validate(chosen["watermark"]) if chosen["watermark"] else None
    return options.watermark


def _plan(state: dict[str, Any]) -> Plan:
    return Plan.model_validate(state["plan"])


def _probe(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    from offload.media.video.facts import probe

    upload = state["video"]
    if state.get("kind") in ("live_segment", "live_end"):
        return state  # the live steps read their own segment
    with tempfile.TemporaryDirectory() as tmp:
        facts = probe(p.source(upload, Path(tmp)), size=upload.get("size"), limits=p.options.limits)
    kind = facts.kind
    doc = facts.model_dump(mode="json")
    p.record(state, "processing", stage="plan" if kind == "video" else "transcode", kind=kind, facts=doc)
    return {**state, "kind": kind, "facts": doc}


def _moderate(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """The moderation pack's step: frames sampled across the video; a flagged video goes on being
    transcoded, but its outputs are held back (not served) until a reviewer approves it."""
    from offload.packs.moderation.service import Moderation

    upload = state["video"]
    with tempfile.TemporaryDirectory() as tmp:
        source = p.source(upload, Path(tmp))
        record = Moderation(p.rt).video(upload["key"], source, duration_s=float(state["facts"]["duration_s"]))
    return {**state, "moderation": {"status": record.status, "verdict": record.verdict}}


def _plan_step(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    from offload.media.video.facts import MediaFacts
    from offload.media.video.plan import make_plan

    facts = MediaFacts.model_validate(state["facts"])
    plan = make_plan(facts, p.options_for(state["video"]))
    if plan.scratch_mb > p.settings.scratch_mb:
        raise NonRetryableError(
            f"joining this {plan.duration_s:.0f} s video needs {plan.scratch_mb} MB of /tmp and the transcode "
            f"function has {p.settings.scratch_mb} MB: lower the video pack's limits.max_duration_s so the "
            "construct sizes it, or split the upload"
        )
    tasks = [{"task": "segment", "index": s.index} for s in plan.segments]
    if plan.audio:
        tasks.append({"task": "audio"})
    outputs = [{"output": "mp4"}]
    if plan.webm is not None:
        outputs.append({"output": "webm"})
    outputs += [{"output": "hls", "rendition": r.name} for r in plan.renditions]
    summary = {
        "renditions": [f"{r.name} {r.width}x{r.height}" for r in plan.renditions],
        "webm": plan.webm is not None,
        "segment_s": plan.segment_s,
        "segments": len(plan.segments),
        "fps": plan.fps,
        "audio": plan.audio,
        "watermark": plan.watermark is not None,
    }
    p.record(state, "processing", stage="transcode", plan=summary, segments_total=len(plan.segments))
    return {**state, "plan": plan.model_dump(mode="json"), "tasks": tasks, "outputs": outputs}


def _part_key(upload: dict[str, Any], name: str, index: int, suffix: str) -> str:
    return f"{work_root(upload)}parts/{name}/{index:05d}{suffix}"


def _transcode(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """One Map task: a segment of every video rendition, or the whole audio track."""
    from offload.media.video.audio import encode_audio
    from offload.media.video.encode import encode_segment

    upload, plan, task = state["video"], _plan(state), state["task"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = p.source(upload, work)
        if task["task"] == "audio":
            made = encode_audio(
                source, work / "audio", formats=("aac", "opus"), loudness_normalise=plan.loudness_normalise
            )
            for path in made.values():
                p.put(path, f"{work_root(upload)}audio/{path.name}", immutable=False)
            return {"task": "audio", "formats": sorted(made)}
        segment = plan.segments[int(task["index"])]
        mark = p.watermark_png(plan, work)
        parts = encode_segment(source, plan, segment, work / "parts", watermark_png=mark)
        for name, path in parts.items():
            p.put(path, _part_key(upload, name, segment.index, path.suffix), immutable=False)
    p.store.increment(upload["key"], "segments_done", version=version_tag(upload))
    return {"task": "segment", "index": segment.index}


def _join(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """One Map task: one output (MP4, WebM or an HLS rendition) from its segment parts and the audio."""
    from offload.media.video.encode import join_rendition
    from offload.media.video.facts import output_info
    from offload.media.video.hls import package_rendition

    upload, plan, output = state["video"], _plan(state), state["output"]
    root = output_root(upload["key"])
    kind = output["output"]
    name = "webm" if kind == "webm" else (output.get("rendition") or plan.renditions[0].name)
    suffix = ".webm" if kind == "webm" else ".mp4"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parts = [
            p.fetch(_part_key(upload, name, s.index, suffix), work / "parts" / f"{s.index:05d}{suffix}")
            for s in plan.segments
        ]
        audio = None
        if plan.audio:
            audio_name = "audio.opus" if kind == "webm" else "audio.m4a"
            audio = p.fetch(f"{work_root(upload)}audio/{audio_name}", work / audio_name)
        if kind in ("mp4", "webm"):
            out = join_rendition(parts, work / f"video{suffix}", audio=audio)
            key = f"{root}video{suffix}"
            p.put(out, key)
            return {"output": output, "info": output_info(out, kind=kind, key=key)}
        rendition = next(r for r in plan.renditions if r.name == name)
        joined = join_rendition(parts, work / "joined.mp4", audio=audio)
        variant = package_rendition(joined, rendition, plan, work / "hls")
        for path in sorted((work / "hls").iterdir()):
            p.put(path, f"{root}hls/{name}/{path.name}", immutable=path.suffix != ".m3u8")
        key = f"{root}hls/{name}/index.m3u8"
        info = output_info(joined, kind="hls", key=key) | {"bytes": _dir_bytes(work / "hls")}
        return {"output": output, "info": info, "variant": variant.model_dump(mode="json")}


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def _package(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """The master playlist, the poster, the sprite sheet and its WebVTT, the audio files; the outputs list."""
    from offload.media.video.hls import Variant, master_playlist
    from offload.media.video.previews import poster, sprite_sheet

    upload, plan = state["video"], _plan(state)
    root = output_root(upload["key"])
    joined = state.get("joined", [])
    outputs = [j["info"] for j in joined]
    variants = [Variant.model_validate(j["variant"]) for j in joined if j.get("variant")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        master = work / "master.m3u8"
        master.write_text(master_playlist(variants))
        p.put(master, f"{root}hls/master.m3u8", immutable=False)
        outputs.append({"kind": "hls_master", "key": f"{root}hls/master.m3u8", "bytes": master.stat().st_size})
        video = p.fetch(f"{root}video.mp4", work / "video.mp4")
        shot = poster(video, work / "poster.jpg", duration_s=plan.duration_s)
        outputs.append(_image_output(shot, "poster", p.put(shot, f"{root}poster.jpg")))
        sprite = sprite_sheet(
            video,
            work / "sprite.jpg",
            work / "sprite.vtt",
            duration_s=plan.duration_s,
            interval_s=plan.sprite_interval_s,
            image_uri="sprite.jpg",
        )
        outputs.append(_image_output(work / "sprite.jpg", "sprite", p.put(work / "sprite.jpg", f"{root}sprite.jpg")))
        outputs[-1] |= {"tiles": sprite.tiles, "interval_s": sprite.interval_s}
        outputs.append({"kind": "vtt", **p.put(work / "sprite.vtt", f"{root}sprite.vtt")})
        if plan.audio:
            outputs += _audio_outputs(
                p, work, [work_root(upload) + "audio/audio.m4a", work_root(upload) + "audio/audio.opus"], root
            )
    _delete_prefix(p, work_root(upload))
    p.record(state, "processing", stage="package", outputs=outputs)
    return {**{k: v for k, v in state.items() if k not in ("joined", "tasks")}, "outputs": outputs}


def _audio_outputs(p: VideoPipeline, work: Path, keys: list[str], root: str) -> list[dict[str, Any]]:
    from offload.media.video.facts import output_info

    made = []
    for key in keys:
        path = p.fetch(key, work / "audio" / posixpath.basename(key))
        out_key = f"{root}{path.name}"
        p.put(path, out_key)
        made.append(output_info(path, kind=f"audio_{_AUDIO_KIND[path.suffix]}", key=out_key))
    return made


_AUDIO_KIND = {".m4a": "aac", ".opus": "opus", ".mp3": "mp3"}


def _image_output(path: Path, kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image

    with Image.open(path) as im:
        width, height, fmt = im.width, im.height, (im.format or "").lower()
    return {"kind": kind, "codec": fmt, "width": width, "height": height, **stored}


def _delete_prefix(p: VideoPipeline, prefix: str) -> None:
    s3 = p.rt.clients.s3
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=p.bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=p.bucket, Delete={"Objects": keys, "Quiet": True})


def _audio(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """An audio upload (or an audio-only file sent as a video): AAC, Opus and MP3, and the waveform."""
    from offload.media.video.audio import encode_audio, waveform_png
    from offload.media.video.facts import output_info

    upload = state["video"]
    root = output_root(upload["key"])
    options = p.options_for(upload)
    outputs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = p.source(upload, work)
        made = encode_audio(
            source, work / "audio", formats=("aac", "opus", "mp3"), loudness_normalise=options.loudness_normalise
        )
        for fmt, path in made.items():
            key = f"{root}{path.name}"
            p.put(path, key)
            outputs.append(output_info(path, kind=f"audio_{fmt}", key=key))
        wave = waveform_png(source, work / "waveform.png")
        outputs.append(_image_output(wave, "waveform", p.put(wave, f"{root}waveform.png")))
    p.record(state, "processing", stage="package", outputs=outputs)
    return {**state, "outputs": outputs}


def _complete(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    done = p.record(state, "completed", stage="done", outputs=state.get("outputs", []))
    logger.info("video completed", video_key=state["video"]["key"], outputs=len(state.get("outputs", [])))
    return {"video": state["video"], "kind": state.get("kind"), "status": "completed" if done else "unchanged"}


def _fail(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """The Catch target: record the failed step and reason, drop the scratch parts, alert the admins."""
    step, reason = failure(state)
    upload = state["video"]
    if state.get("kind") in ("live_segment", "live_end"):
        from offload.packs.video.live import live_failed

        live_failed(p, state, step, reason)  # the stream's record, not one per segment
    p.record(state, "failed", error={"step": step, "reason": reason})
    logger.error("video failed", video_key=upload["key"], failed_step=step, reason=reason)
    try:
        _delete_prefix(p, work_root(upload))
    except Exception:
        logger.exception("could not delete the failed video's scratch parts")
    try:
        publish_alert(p.rt.clients.sns, p.rt.settings.alert_topic_arn, video_alert(upload, step, reason))
    except Exception:
        logger.exception("could not publish the video failure alert")
    return {"video": upload, "status": "failed", "reason": reason}


def _live(step: str) -> Callable[[VideoPipeline, dict[str, Any]], dict[str, Any]]:
    def run(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
        from offload.packs.video import live

        handler: Callable[[VideoPipeline, dict[str, Any]], dict[str, Any]] = getattr(live, step)
        return handler(p, state)

    return run


_HANDLERS: dict[str, Callable[[VideoPipeline, dict[str, Any]], dict[str, Any]]] = {
    "probe": _probe,
    "moderate": _moderate,
    "plan": _plan_step,
    "transcode": _transcode,
    "join": _join,
    "package": _package,
    "audio": _audio,
    "live_segment": _live("live_segment"),
    "live_end": _live("live_end"),
    "complete": _complete,
    "fail": _fail,
}


def video_alert(upload: dict[str, Any], step: str, reason: str) -> Alert:
    """The admins' alert for an upload whose pipeline failed; the original is never touched."""
    from offload.media.records import upload_alert

    return upload_alert("video", "video pipeline", upload, step, reason, "offload videos get")
