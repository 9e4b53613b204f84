"""Live streams: a recording's segments, processed one by one as they land under uploads/live/<stream>/.

A Lambda can't hold a live stream: ingest belongs to a media service (Amazon IVS records a stream
to S3 as HLS segments; docs/live.md says how they get here). Each object under
`uploads/live/<stream>/` becomes one execution of the video pipeline:

- a segment (`000123.ts`, `seg-42.mp4`: a sequence number ends its name) -> `live_segment`: probe
  it, transcode it to the stream's ladder (fixed by the first segment processed and kept in the
  stream's record, so every segment has the same renditions), remux each rendition to MPEG-TS at
  `live/<stream>/<rendition>/<seq>.ts` (its duration and start in the object's metadata), then
  republish the rolling playlists: per rendition an EVENT media playlist of the contiguous run of
  segments from the stream's first (a segment that arrives early waits until the gap before it
  fills), and the master playlist;
- `END` -> `live_end`: once every uploaded segment is processed (until then RateLimitedError, which
  the state machine waits out for about 15 minutes), the final VOD playlists (ENDLIST), `live/<stream>/vod.mp4` (the top
  rendition's segments by stream copy, +faststart) and the stream's record `completed`.

Timestamps: the outputs keep the source's timeline (plus TS_OFFSET_S), so segments a recorder cut
from one continuous stream play back to back; where a segment's start doesn't follow the one before
(a recorder that resets timestamps per segment, a failed segment) the playlist says
EXT-X-DISCONTINUITY. Concurrent segment tasks publish the playlists with S3 conditional writes
(If-Match on the ETag read), so a playlist only ever grows and a slower task can't put back an older
one. A bad segment fails its own execution; its reason is added to the stream record's `errors`
and the stream goes on without it.
"""

from __future__ import annotations

import math
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from offload.errors import NonRetryableError, RateLimitedError, RetryableError
from offload.jobs.context import JobContext
from offload.jobs.model import now_iso
from offload.media.records import MEDIA_LIFECYCLE, execution_name, new_record, version_tag
from offload.media.video.plan import Plan, Rendition, Segment
from offload.observability import logger
from offload.packs.uploads import UploadData
from offload.packs.video import UPLOAD_PREFIXES
from offload.packs.video.live_playlist import (
    Timing,
    contiguous_run,
    grown,
    media_playlist,
    parse_playlist,
    segment_name,
    timeline,
)
from offload.packs.video.starter import is_live_end
from offload.packs.video.steps import CONTENT_TYPES, VideoPipeline
from offload.packs.video.store import VideoRecord

LIVE_PREFIX = UPLOAD_PREFIXES["live"]
OUTPUT_PREFIX = "live/"
PLAYLIST = "index.m3u8"
MASTER = "master.m3u8"
VOD = "vod.mp4"
# What a recorder writes next to its segments and offload leaves alone (IVS: playlists, the
# recording-started/ended JSON, thumbnails).
IGNORED = {".m3u8": "a playlist", ".json": "recorder metadata", ".jpg": "a thumbnail", ".png": "a thumbnail"}
SEGMENT_SUFFIXES = (".ts", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".flv")
SEQUENCE = re.compile(r"(\d+)$")
# Output timestamps are the source's plus this, so a source that starts at 0 (B-frames decode
# before their display time) never needs a negative MPEG-TS timestamp.
TS_OFFSET_S = 10.0
# Players poll an EVENT playlist every target duration: a CDN may keep it for a second at most.
LIVE_CACHE_CONTROL = "public, max-age=1"
FINAL_CACHE_CONTROL = "public, max-age=300"
# Conditional playlist writes that lose a race read the playlist again; this many losses in a row
# means something else rewrites it all the time, and the task is retried.
CAS_ATTEMPTS = 20
HEAD_THREADS = 16
SCRATCH_MARGIN_MB = 256


@dataclass(frozen=True)
class LiveObject:
    """An object under uploads/live/<stream>/: one of the stream's segments, or its END marker."""

    stream: str
    name: str
    kind: Literal["live_segment", "live_end"]
    seq: int | None = None


@dataclass(frozen=True)
class Ignored:
    """An object under uploads/live/ that is not offload's to process (a recorder's playlist)."""

    reason: str


class LiveLadder(BaseModel):
    """What every segment of a stream is encoded to, fixed by the first segment processed."""

    renditions: list[Rendition]
    fps: float
    gop_s: float
    audio: bool
    audio_kbps: int = 128
    sample_rate: int = 48000
    channels: int = 2
    first_seq: int  # the rolling playlists start here: the lowest segment number uploaded by then


def classify(key: str) -> LiveObject | Ignored:
    """What an object under uploads/live/ is; NonRetryableError (saying what to upload) when it is
    neither a segment nor END nor a recorder's by-product."""
    if not key.startswith(LIVE_PREFIX):
        raise NonRetryableError(f"{key!r} is not under {LIVE_PREFIX}: live streams upload to {LIVE_PREFIX}<stream>/")
    stream, sep, name = key.removeprefix(LIVE_PREFIX).partition("/")
    if not sep or not stream:
        raise NonRetryableError(
            f"{key!r} is not in a stream's folder: upload a stream's segments to {LIVE_PREFIX}<stream>/, "
            f"e.g. {LIVE_PREFIX}my-stream/000000.ts"
        )
    if not name:
        return Ignored("a folder marker")
    if "/" in name:
        raise NonRetryableError(
            f"{key!r} is in a subfolder of live stream {stream!r}: a stream's segments go directly in "
            f"{LIVE_PREFIX}{stream}/ (one rendition, numbered in stream order)"
        )
    if is_live_end(key):
        return LiveObject(stream, name, "live_end")
    stem, ext = posixpath.splitext(name)
    if ext.lower() in IGNORED:
        return Ignored(IGNORED[ext.lower()])
    if ext.lower() not in SEGMENT_SUFFIXES:
        raise NonRetryableError(
            f"{name!r} in live stream {stream!r} is neither a media segment ({', '.join(SEGMENT_SUFFIXES)}) nor "
            "the END marker: upload self-contained segments (MPEG-TS from an HLS recording, or MP4) and END last"
        )
    match = SEQUENCE.search(stem)
    if match is None:
        raise NonRetryableError(
            f"segment {name!r} of live stream {stream!r} has no sequence number at the end of its name: "
            "name segments in stream order, e.g. 000123.ts or seg-42.mp4"
        )
    return LiveObject(stream, name, "live_segment", int(match.group(1)))


def stream_key(stream: str) -> str:
    """The stream's record key: its upload folder."""
    return f"{LIVE_PREFIX}{stream}/"


def output_root(stream: str) -> str:
    """Where a stream's renditions, playlists and VOD go."""
    return f"{OUTPUT_PREFIX}{stream}/"


def segment_key(stream: str, rendition: str, seq: int) -> str:
    """One processed segment of one rendition."""
    return f"{output_root(stream)}{rendition}/{segment_name(seq)}"


# ---- the live.segment job -------------------------------------------------------------------------


def start_live_object(pipeline: VideoPipeline, data: UploadData, ctx: JobContext) -> dict[str, Any]:
    """The `live.segment` job: make sure the stream's record exists (created, `processing`, by its
    first object), then start one execution per object version (a duplicate event starts nothing)."""
    arn = pipeline.settings.pipeline_arn
    if not arn:
        raise NonRetryableError("live streams need the video pipeline: the video pack's settings have no pipeline_arn")
    obj = classify(data.key)
    if isinstance(obj, Ignored):
        logger.info("live object ignored", key=data.key, reason=obj.reason)
        return {"status": "ignored", "key": data.key, "reason": f"{obj.reason}, not a segment"}
    upload = data.model_dump(mode="json", exclude_none=True)
    key = stream_key(obj.stream)
    created = pipeline.store.register(
        new_record(
            VideoRecord,
            {"bucket": data.bucket, "key": key},
            kind="live",
            status="processing",
            stage="transcode",
        )
    )
    if created:
        logger.info("live stream started", stream=obj.stream)
    record = pipeline.store.get(key)
    if record is not None and record.status in MEDIA_LIFECYCLE.final:
        raise NonRetryableError(
            f"live stream {obj.stream!r} is already {record.status}; {obj.name!r} came after it ended. "
            f"A new stream needs a new folder under {LIVE_PREFIX}"
        )
    if obj.kind == "live_segment" and data.size == 0:
        reason = "the segment is empty (0 bytes)"
        record_segment_error(pipeline, obj, upload, "probe", reason)
        return {"status": "failed", "key": data.key, "reason": reason}
    sfn = ctx.runtime.clients.client("stepfunctions")
    name = execution_name("live", upload)
    # StartExecution of a Standard workflow is idempotent while the first run is running (same name,
    # same input: the same execution, no error), so a duplicate is found by name first.
    if _execution_exists(sfn, arn, name):
        return {"status": "duplicate", "key": data.key}
    try:
        run = sfn.start_execution(
            stateMachineArn=arn, name=name, input=_json({"video": upload, "kind": obj.kind, "stream": obj.stream})
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"status": "duplicate", "key": data.key}
    if obj.kind == "live_segment":
        pipeline.store.increment(key, "segments_total")
    return {"status": "started", "key": data.key, "stream": obj.stream, "execution_arn": run["executionArn"]}


def _execution_exists(sfn: Any, machine_arn: str, name: str) -> bool:
    arn = machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    try:
        sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return False
    return True


def _json(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, ensure_ascii=False)


# ---- the live_segment step ------------------------------------------------------------------------


def live_segment(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """One segment: probe, transcode to the stream's ladder, upload each rendition's MPEG-TS, publish."""
    upload = state["video"]
    obj = _segment_object(upload["key"])
    assert obj.seq is not None
    record = _running_stream(p, obj.stream)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ladder, variants = _process(p, record, obj, upload, Path(tmp))
    except NonRetryableError as exc:
        record_segment_error(p, obj, upload, "live_segment", str(exc))
        raise
    published = publish(p, obj.stream, ladder, variants)
    p.store.increment(stream_key(obj.stream), "segments_done")
    logger.info("live segment processed", stream=obj.stream, seq=obj.seq, published=published)
    return {
        "video": upload,
        "kind": "live_segment",
        "stream": obj.stream,
        "seq": obj.seq,
        "status": "processed",
        "published": published,
    }


def _segment_object(key: str) -> LiveObject:
    obj = classify(key)
    if not isinstance(obj, LiveObject) or obj.kind != "live_segment":
        raise NonRetryableError(f"{key!r} is not a live stream segment")
    return obj


def _running_stream(p: VideoPipeline, stream: str) -> VideoRecord:
    record = p.store.get(stream_key(stream))
    if record is None:
        raise NonRetryableError(f"live stream {stream!r} has no record: its objects start through the live.segment job")
    if record.status in MEDIA_LIFECYCLE.final:
        raise NonRetryableError(f"live stream {stream!r} is already {record.status}")
    return record


def _process(
    p: VideoPipeline, record: VideoRecord, obj: LiveObject, upload: dict[str, Any], work: Path
) -> tuple[LiveLadder, dict[str, dict[str, Any]]]:
    """Transcode and upload one segment; the ladder, and per rendition what the master playlist says of it."""
    from offload.media.video.encode import encode_segment
    from offload.media.video.facts import MediaInputError, probe
    from offload.media.video.hls import codecs_of
    from offload.media.video.plan import make_plan

    assert obj.seq is not None
    source = p.source(upload, work)
    facts = probe(source, size=upload.get("size"), limits=p.options.limits)
    if facts.video is None:
        raise MediaInputError("no_streams", "the segment has no video stream: a live stream's segments carry video")
    own = make_plan(facts, p.options_for(upload).model_copy(update={"webm": False}))
    ladder = LiveLadder.model_validate(record.plan) if record.plan else _fix_ladder(p, obj.stream, own, facts)
    start_s, duration_s = video_timing(source)
    plan = segment_plan(own, ladder, duration_s)
    segment = plan.segments[0]
    mark = p.watermark_png(plan, work)
    parts = encode_segment(source, plan, segment, work / "parts", watermark_png=mark)
    audio = _audio_mode(facts, ladder)
    metadata = {"start": f"{start_s + TS_OFFSET_S:.6f}", "duration": f"{segment.frames / ladder.fps:.6f}"}
    variants = {}
    for rendition in ladder.renditions:
        ts = mux_segment(
            parts[rendition.name], source, work / f"{rendition.name}.ts", start_s=start_s, audio=audio, ladder=ladder
        )
        p.put(ts, segment_key(obj.stream, rendition.name, obj.seq), metadata=metadata)
        variants[rendition.name] = {"codecs": codecs_of(ts)}
    return ladder, variants


def _fix_ladder(p: VideoPipeline, stream: str, plan: Plan, facts: Any) -> LiveLadder:
    """The stream's ladder: this segment's, unless another one fixed it first (one conditional write)."""
    audio = facts.audio
    mine = LiveLadder(
        renditions=plan.renditions,
        fps=plan.fps,
        gop_s=plan.gop_s,
        audio=audio is not None,
        audio_kbps=plan.audio_kbps,
        sample_rate=audio.sample_rate if audio else 48000,
        channels=audio.channels if audio else 2,
        first_seq=min(uploaded_segments(p, stream), default=0),
    )
    record = p.store.set_once(stream_key(stream), "plan", mine.model_dump(mode="json"))
    if record is None or record.plan is None:
        raise NonRetryableError(f"live stream {stream!r} ended while this segment was processed")
    return LiveLadder.model_validate(record.plan)


def segment_plan(plan: Plan, ladder: LiveLadder, duration_s: float) -> Plan:
    """A segment's own plan moved onto the stream's ladder, as a single segment: keyframe at its
    start and every gop_s after, as many frames as its duration holds at the stream's frame rate."""
    frames = max(1, round(duration_s * ladder.fps))
    return plan.model_copy(
        update={
            "renditions": ladder.renditions,
            "webm": None,
            "fps": ladder.fps,
            "gop_s": ladder.gop_s,
            "audio": ladder.audio,
            "duration_s": duration_s,
            "segment_s": duration_s,
            "segments": [Segment(index=0, start_s=0.0, duration_s=duration_s, frames=frames)],
        }
    )


AudioMode = Literal["copy", "encode", "silence", "none"]


def _audio_mode(facts: Any, ladder: LiveLadder) -> AudioMode:
    """The stream has audio or not, whatever one segment has: copy AAC, encode other codecs, fill a
    segment without audio with silence, drop audio from a stream whose first segment had none."""
    if not ladder.audio:
        return "none"
    if facts.audio is None:
        return "silence"
    return "copy" if facts.audio.codec == "aac" else "encode"


def video_timing(source: str) -> tuple[float, float]:
    """(start, duration) in seconds of a file's first video stream, from its packets."""
    from offload.media.video.ffmpeg import open_source

    with open_source(source) as container:
        stream = container.streams.video[0]
        tb = float(stream.time_base or 0)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        first: int | None = None
        end: float | None = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            step = packet.duration * tb if packet.duration else 1 / rate
            stop = packet.pts * tb + step
            end = stop if end is None else max(end, stop)
    if first is None or end is None:
        from offload.media.video.facts import MediaInputError

        raise MediaInputError("truncated", "the segment's video stream has no frames: upload the whole segment")
    return first * tb, end - first * tb


def mux_segment(part: Path, source: str, out: Path, *, start_s: float, audio: AudioMode, ladder: LiveLadder) -> Path:
    """One rendition's MPEG-TS segment: its video part (placed at the source's start + TS_OFFSET_S)
    and the segment's audio at its own timestamps (copied, encoded to AAC, or silence)."""
    from offload.media.video.ffmpeg import run_ffmpeg, source_args

    part_start, part_duration = video_timing(str(part))
    args = ["-copyts", "-itsoffset", f"{start_s + TS_OFFSET_S - part_start:.6f}", "-i", str(part)]
    if audio in ("copy", "encode"):
        args += ["-itsoffset", f"{TS_OFFSET_S:.6f}", *source_args(source), "-i", source]
    elif audio == "silence":
        layout = "mono" if ladder.channels == 1 else "stereo"
        args += [
            "-itsoffset", f"{start_s + TS_OFFSET_S:.6f}", "-f", "lavfi", "-t", f"{part_duration:.6f}",
            "-i", f"anullsrc=r={ladder.sample_rate}:cl={layout}",
        ]  # fmt: skip
    args += ["-map", "0:v:0", "-c:v", "copy"]
    if audio == "none":
        args += ["-an"]
    else:
        args += ["-map", "1:a:0"]
        args += ["-c:a", "copy"] if audio == "copy" else ["-c:a", "aac", "-b:a", f"{ladder.audio_kbps}k"]
    # No mux delay: the timestamps stay where -copyts put them, segment after segment.
    args += ["-map_metadata", "-1", "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", str(out)]
    run_ffmpeg(["-loglevel", "error", *args], what=f"mux {out.name}")
    return out


# ---- playlists ------------------------------------------------------------------------------------


def publish(
    p: VideoPipeline, stream: str, ladder: LiveLadder, variants: dict[str, dict[str, Any]] | None = None
) -> int:
    """Republish the rolling playlists from a listing of the processed segments; the number of
    segments they list now. A playlist that ended (ENDLIST) is left alone."""
    done, _ = processed_segments(p, stream, ladder)
    failed = failed_segments(p, stream) - done
    run = contiguous_run(ladder.first_seq, done, failed)
    if not run:
        return 0
    root = output_root(stream)
    top = ladder.renditions[0].name
    current = _get_text(p, f"{root}{top}/{PLAYLIST}")[0]
    known = parse_playlist(current).segments if current is not None else []
    listed = {s.seq for s in known}
    # The durations of the segments the playlist lists are in it; the others' (and the last listed
    # one's, to see whether the timeline runs on) come from the objects' metadata.
    wanted = [s for s in run if s not in listed] + ([known[-1].seq] if known else [])
    segments = timeline(run, failed, segment_timings(p, stream, top, wanted), fps=ladder.fps, known=known)
    for rendition in ladder.renditions:
        key = f"{root}{rendition.name}/{PLAYLIST}"
        conditional_put(p, key, lambda text: grown(text, segments, ladder.first_seq), LIVE_CACHE_CONTROL)
    if variants:
        master = master_text(ladder, variants)
        conditional_put(p, f"{root}{MASTER}", lambda text: master if text is None else None, LIVE_CACHE_CONTROL)
    return len(segments)


def segment_timings(p: VideoPipeline, stream: str, rendition: str, seqs: Iterable[int]) -> dict[int, Timing]:
    """Each segment's start and duration, from its object's metadata (HEAD requests in parallel)."""
    s3 = p.rt.clients.s3

    def head(seq: int) -> tuple[int, Timing]:
        meta = s3.head_object(Bucket=p.bucket, Key=segment_key(stream, rendition, seq))["Metadata"]
        return seq, Timing(float(meta["start"]), float(meta["duration"]))

    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=min(HEAD_THREADS, len(wanted))) as pool:
        return dict(pool.map(head, wanted))


def _get_text(p: VideoPipeline, key: str) -> tuple[str | None, str | None]:
    s3 = p.rt.clients.s3
    try:
        got = s3.get_object(Bucket=p.bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None, None
    return got["Body"].read().decode("utf-8"), str(got["ETag"])


def conditional_put(p: VideoPipeline, key: str, build: Callable[[str | None], str | None], cache_control: str) -> bool:
    """Replace a playlist only if nobody changed it since it was read (If-Match on its ETag; If-None-Match
    when it did not exist): `build` gets the current text and returns the new one, or None to keep it."""
    s3 = p.rt.clients.s3
    for _ in range(CAS_ATTEMPTS):
        current, etag = _get_text(p, key)
        text = build(current)
        if text is None:
            return False
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            s3.put_object(
                Bucket=p.bucket,
                Key=key,
                Body=text.encode("utf-8"),
                ContentType=CONTENT_TYPES[".m3u8"],
                CacheControl=cache_control,
                **condition,
            )
            return True
        except ClientError as exc:
            # 412: someone wrote it since we read it; 409: a write of it is under way right now.
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
    raise RetryableError(f"{key} changed {CAS_ATTEMPTS} times while it was being updated")


def master_text(ladder: LiveLadder, variants: dict[str, dict[str, Any]]) -> str:
    """The master playlist: one variant per rendition. While the stream runs the bandwidths are the
    ladder's nominal ones (the rendition's maxrate and average rate, plus the audio's); the final
    master has the measured ones."""
    from offload.media.video.hls import Variant, master_playlist

    audio_kbps = ladder.audio_kbps if ladder.audio else 0
    out = []
    for r in ladder.renditions:
        v = variants.get(r.name, {})
        out.append(
            Variant(
                name=r.name,
                uri=f"{r.name}/{PLAYLIST}",
                width=r.width,
                height=r.height,
                bandwidth=int(v.get("bandwidth") or (r.maxrate_kbps + audio_kbps) * 1000),
                average_bandwidth=int(v.get("average_bandwidth") or (r.video_kbps + audio_kbps) * 1000),
                codecs=v["codecs"],
                frame_rate=round(ladder.fps, 3),
            )
        )
    return master_playlist(out)


# ---- listings -------------------------------------------------------------------------------------


def uploaded_segments(p: VideoPipeline, stream: str) -> set[int]:
    """The sequence numbers of the segments uploaded to the stream's folder so far."""
    seqs = set()
    for key, _ in _list(p, stream_key(stream), delimiter=True):
        try:
            obj = classify(key)
        except NonRetryableError:
            continue
        if isinstance(obj, LiveObject) and obj.seq is not None:
            seqs.add(obj.seq)
    return seqs


def processed_segments(p: VideoPipeline, stream: str, ladder: LiveLadder) -> tuple[set[int], dict[int, dict[str, int]]]:
    """The segments every rendition has, and the bytes of each rendition's segments by number."""
    names = {r.name for r in ladder.renditions}
    have: dict[int, dict[str, int]] = {}
    root = output_root(stream)
    for key, size in _list(p, root):
        rendition, _, file = key.removeprefix(root).partition("/")
        stem, ext = posixpath.splitext(file)
        if rendition in names and ext == ".ts" and stem.isdigit():
            have.setdefault(int(stem), {})[rendition] = size
    return {seq for seq, sizes in have.items() if len(sizes) == len(names)}, have


def failed_segments(p: VideoPipeline, stream: str) -> set[int]:
    """The segments whose executions failed, from the stream's record."""
    record = p.store.get(stream_key(stream))
    return {int(e["seq"]) for e in (record.errors if record else []) if e.get("seq") is not None}


def _list(p: VideoPipeline, prefix: str, *, delimiter: bool = False) -> Iterable[tuple[str, int]]:
    kwargs: dict[str, Any] = {"Bucket": p.bucket, "Prefix": prefix}
    if delimiter:
        kwargs["Delimiter"] = "/"
    for page in p.rt.clients.s3.get_paginator("list_objects_v2").paginate(**kwargs):
        for o in page.get("Contents", []):
            yield o["Key"], int(o["Size"])


# ---- errors ---------------------------------------------------------------------------------------


def record_segment_error(p: VideoPipeline, obj: LiveObject, upload: dict[str, Any], step: str, reason: str) -> None:
    """Add a failed segment to the stream record's `errors` (once per object version)."""
    key = stream_key(obj.stream)
    version = version_tag(upload)
    record = p.store.get(key)
    if record is None or any(e.get("key") == upload["key"] and e.get("version") == version for e in record.errors):
        return
    entry = {"seq": obj.seq, "key": upload["key"], "version": version, "step": step, "reason": reason, "at": now_iso()}
    p.store.append(key, "errors", entry)
    logger.warning("live segment failed", stream=obj.stream, seq=obj.seq, reason=reason)
    if record.plan:
        # Later segments may have waited for this one: the playlists go on past it now.
        try:
            publish(p, obj.stream, LiveLadder.model_validate(record.plan))
        except Exception:
            logger.exception("could not republish the live playlists after a failed segment", stream=obj.stream)


def live_failed(p: VideoPipeline, state: dict[str, Any], step: str, reason: str) -> None:
    """The fail step of a live execution (retries used up, or refused): the stream's record says so."""
    obj = classify(state["video"]["key"])
    if not isinstance(obj, LiveObject):
        return
    if obj.kind == "live_segment":
        record_segment_error(p, obj, state["video"], step, reason)
    else:
        p.store.annotate(stream_key(obj.stream), error={"step": step, "reason": reason})


# ---- the live_end step ----------------------------------------------------------------------------


def live_end(p: VideoPipeline, state: dict[str, Any]) -> dict[str, Any]:
    """END: once every uploaded segment is processed (or failed), the final VOD playlists, the VOD MP4
    and the stream record `completed` with its outputs. Until then RetryableError."""
    upload = state["video"]
    obj = classify(upload["key"])
    if not isinstance(obj, LiveObject) or obj.kind != "live_end":
        raise NonRetryableError(f"{upload['key']!r} is not a live stream's END marker")
    key = stream_key(obj.stream)
    record = p.store.get(key)
    if record is None:
        raise NonRetryableError(f"live stream {obj.stream!r} has no record: its objects start through live.segment")
    result = {"video": upload, "kind": "live_end", "stream": obj.stream}
    if record.status in MEDIA_LIFECYCLE.final:
        return {**result, "status": "unchanged"}
    uploaded = uploaded_segments(p, obj.stream)
    ladder = LiveLadder.model_validate(record.plan) if record.plan else None
    done, sizes = processed_segments(p, obj.stream, ladder) if ladder else (set(), {})
    failed = {int(e["seq"]) for e in record.errors if e.get("seq") is not None} - done
    pending = sorted(uploaded - done - failed)
    if pending:
        shown = ", ".join(segment_name(s) for s in pending[:5]) + (", ..." if len(pending) > 5 else "")
        # Not a failure: the state machine waits (RateLimitedError's retry: from 6 s, growing by half, capped at
        # 60 s, about 15 minutes) without using up the step's error retries.
        raise RateLimitedError(
            f"waiting for {len(pending)} segments of live stream {obj.stream!r} ({shown})", retry_after_s=10.0
        )
    if ladder is None or not done:
        reason = (
            f"none of the stream's {len(uploaded)} segments could be processed (see errors)"
            if uploaded
            else "the stream ended before any segment was uploaded"
        )
        p.store.update(key, "failed", stage="done", error={"step": "live_end", "reason": reason})
        return {**result, "status": "failed", "reason": reason}
    outputs, note = _finish(p, obj.stream, ladder, done, failed, sizes)
    fields: dict[str, Any] = {"stage": "done", "outputs": outputs}
    if note:
        fields["error"] = {"step": "live_end", "reason": note}
    p.store.update(key, "completed", **fields)
    logger.info("live stream completed", stream=obj.stream, segments=len(done), failed=len(failed))
    return {**result, "status": "completed", "outputs": outputs}


def _finish(
    p: VideoPipeline,
    stream: str,
    ladder: LiveLadder,
    done: set[int],
    failed: set[int],
    sizes: dict[int, dict[str, int]],
) -> tuple[list[dict[str, Any]], str | None]:
    """The final playlists, the master with measured bandwidths, the VOD MP4; the outputs, and why
    the MP4 was left out if it was."""
    from offload.media.video.facts import output_info
    from offload.media.video.hls import codecs_of

    seqs = sorted(done)
    top = ladder.renditions[0]
    root = output_root(stream)
    timings = segment_timings(p, stream, top.name, seqs)
    segments = timeline(seqs, failed, timings, fps=ladder.fps)
    duration = sum(s.duration_s for s in segments)
    final = media_playlist(segments, media_sequence=seqs[0], final=True)
    outputs: list[dict[str, Any]] = []
    variants: dict[str, dict[str, Any]] = {}
    note = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for r in ladder.renditions:
            key = f"{root}{r.name}/{PLAYLIST}"
            _put_text(p, key, final, FINAL_CACHE_CONTROL)
            total = sum(sizes[s][r.name] for s in seqs)
            # hls.segment_bitrates' rule: a segment shorter than a second says little about the peak.
            peak = max(sizes[s][r.name] * 8 / max(timings[s].duration_s, 1.0) for s in seqs)
            first = p.fetch(segment_key(stream, r.name, seqs[0]), work / r.name / segment_name(seqs[0]))
            variants[r.name] = {
                "codecs": codecs_of(first),
                "bandwidth": math.ceil(max(peak, total * 8 / duration)),
                "average_bandwidth": math.ceil(total * 8 / duration),
            }
            outputs.append(
                {
                    "kind": "hls",
                    "codec": "h264",
                    "width": r.width,
                    "height": r.height,
                    "duration_s": round(duration, 3),
                    "bitrate": round(total * 8 / duration),
                    "bytes": total,
                    "key": key,
                }
            )
        master = master_text(ladder, variants)
        _put_text(p, f"{root}{MASTER}", master, FINAL_CACHE_CONTROL)
        outputs.append({"kind": "hls_master", "key": f"{root}{MASTER}", "bytes": len(master.encode())})
        top_bytes = sum(sizes[s][top.name] for s in seqs)
        need_mb = math.ceil(2 * top_bytes / 1024**2) + SCRATCH_MARGIN_MB
        if need_mb > p.settings.scratch_mb:
            note = (
                f"{VOD} was not made: joining {top_bytes // 1024**2} MB of {top.name} segments needs about "
                f"{need_mb} MB of /tmp and the function has {p.settings.scratch_mb} MB; the HLS VOD is complete"
            )
        else:
            vod = vod_mp4(p, stream, top.name, seqs, work)
            outputs.insert(0, output_info(vod, kind="mp4", key=p.put(vod, f"{root}{VOD}")["key"]))
    return outputs, note


def _put_text(p: VideoPipeline, key: str, text: str, cache_control: str) -> None:
    p.rt.clients.s3.put_object(
        Bucket=p.bucket,
        Key=key,
        Body=text.encode("utf-8"),
        ContentType=CONTENT_TYPES[".m3u8"],
        CacheControl=cache_control,
    )


def vod_mp4(p: VideoPipeline, stream: str, rendition: str, seqs: list[int], work: Path) -> Path:
    """The rendition's segments (video and audio) as one MP4, by stream copy, +faststart.

    The MPEG-TS segments are appended to one file as they download (MPEG-TS concatenates byte by
    byte), then remuxed; ffmpeg evens out a timeline that jumps back (per-segment timestamps)."""
    from offload.media.video.ffmpeg import run_ffmpeg

    joined = work / "joined.ts"
    s3 = p.rt.clients.s3
    with open(joined, "wb") as f:
        for seq in seqs:
            body = s3.get_object(Bucket=p.bucket, Key=segment_key(stream, rendition, seq))["Body"]
            shutil.copyfileobj(body, f, 8 * 1024 * 1024)
    out = work / VOD
    try:
        run_ffmpeg(
            ["-loglevel", "error", "-i", str(joined), "-map", "0", "-c", "copy", "-map_metadata", "-1",
             "-movflags", "+faststart", "-f", "mp4", str(out)],
            what=f"join live stream {stream!r} into {VOD}",
        )  # fmt: skip
    finally:
        joined.unlink(missing_ok=True)
    return out
