"""The mixed workload, the counting sink and the accounting that bench/load.py and bench/chaos.py share.

A run submits jobs of several kinds through the local cloud, waits until every record is terminal (or a
deadline passes), then accounts for every job: by status, lost (no record, or not terminal at the end),
side effects duplicated (a webhook delivery the sink answered 2xx more than once: the job ran twice; a media
upload whose pipeline state machine was started more than once), and
whether the queues' statistics add up (every message gone, nothing left in a dead-letter queue unexplained).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from offload.catalog import SQS_MAX_DELAY_S
from offload.jobs.admin import queue_stats
from offload.jobs.enqueue import enqueue, enqueue_many
from offload.jobs.model import JobStatus, idempotent_job_id
from offload.local import samples
from offload.media.records import MEDIA_LIFECYCLE
from offload.media.video import samples as video_samples
from offload.packs.core.hooks import WEBHOOK_TYPE
from offload.packs.images.search import get_image
from offload.packs.images.settings import images_settings
from offload.packs.video.settings import video_settings
from offload.runtime import Runtime

TERMINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
WAITING = (JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.DELAYED)


def rss_mb(pid: int | None = None) -> float:
    """A process's resident set size now, in MB: this one's (the local cloud runs in it) by default."""
    with open(f"/proc/{pid or 'self'}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


class CountingSink:
    """A loopback webhook receiver that counts deliveries by X-Offload-Delivery (the webhook job's id).

    `mode` decides the answer: "ok" (200), "429" or "500" (the provider refusing), "slow" (200 after
    `slow_s`, inside the sender's timeout), "never" (holds the connection past the sender's timeout, then
    503). Only a 2xx answer applies the effect; two for one delivery id mean the job ran twice."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_s = 1.0
        self.never_s = 8.0
        self.applied: Counter[str] = Counter()
        self.applied_at: dict[str, list[float]] = {}  # delivery id -> when each 2xx was decided (monotonic)
        self.requests = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                delivery = self.headers.get("X-Offload-Delivery", "?")
                with sink._lock:
                    sink.requests += 1
                    mode = sink.mode
                status = {"429": 429, "500": 500}.get(mode, 200)
                if mode == "slow":
                    time.sleep(sink.slow_s)
                if mode == "never":
                    time.sleep(sink.never_s)
                    status = 503
                if status == 200:
                    with sink._lock:
                        sink.applied[delivery] += 1
                        sink.applied_at.setdefault(delivery, []).append(time.monotonic())
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def duplicated(self) -> int:
        return len(self.duplicates())

    def duplicates(self) -> list[str]:
        """The delivery ids answered 2xx more than once."""
        with self._lock:
            return [delivery for delivery, n in self.applied.items() if n > 1]

    def stop(self) -> None:
        self.server.shutdown()


@dataclass
class Mix:
    """How many jobs of each kind a run submits (see submit())."""

    bulk: int = 0  # diag.echo through enqueue_many, 500 per call
    single: int = 0  # diag.echo through enqueue(), one request pair each
    high: int = 0  # diag.echo at priority 9: the default queue's `high` lane
    retried: int = 0  # diag.flaky failing its first attempt: one retry with backoff
    delayed: int = 0  # diag.echo delayed 5 s
    slept: int = 0  # diag.sleep 0.2 s in 2 steps: progress updates while active
    webhooks: int = 0  # webhook.deliver to the counting sink (the side effect that must not run twice)
    images: int = 0  # rounds of the sample uploads (3 photos, 5 bad files) into the image pipeline, through S3
    videos: int = 0  # rounds of video uploads (a 2 s clip, an MP4 cut before its index) into the video pipeline
    # On the chaos app's `brief` queue (3 s function timeout), each with webhook_url= to the counting sink:
    brief: int = 0  # brief.sleep 0.2-0.9 s in steps: the jobs a crash stops mid-run
    overrun: int = 0  # brief.sleep 6 s: past the function's timeout on every attempt, so it ends failed
    hopped: int = 0  # brief.sleep due 15.5 min out: past SQS's 15-minute delay, so its message hops once

    @classmethod
    def of_total(cls, total: int) -> Mix:
        """The load run's shares: mostly bulk, every other kind at 2-10%."""
        shares = {"single": 0.05, "high": 0.05, "retried": 0.05, "delayed": 0.05, "slept": 0.02, "webhooks": 0.03}
        counts = {k: int(total * v) for k, v in shares.items()}
        return cls(bulk=total - sum(counts.values()), **counts)

    @property
    def total(self) -> int:
        jobs = self.bulk + self.single + self.high + self.retried + self.delayed + self.slept + self.webhooks
        jobs += self.brief + self.overrun + self.hopped
        return jobs + self.images * (len(samples.PHOTOS) + len(samples.BAD_INPUTS)) + self.videos * len(VIDEOS)


@dataclass
class Submitted:
    kinds: dict[str, str] = field(default_factory=dict)  # job id -> kind
    uploads: dict[str, str] = field(default_factory=dict)  # upload key -> the status its media record must end in
    seconds: float = 0.0
    refused: list[str] = field(default_factory=list)  # enqueue calls that raised (the caller was told)
    hooked: set[str] = field(default_factory=set)  # jobs enqueued with webhook_url=: one webhook each when done

    def add(self, kind: str, ids: list[str]) -> None:
        for job_id in ids:
            self.kinds[job_id] = kind


BULK_KINDS = ("bulk", "high", "retried", "delayed", "slept")
HOPPED_DELAY_S = SQS_MAX_DELAY_S + 5  # the `hopped` jobs' delay (+ 0-29 s): SQS holds 900 s, the worker sends on


def submit(rt: Runtime, mix: Mix, sink_url: str, *, chunk: int = 500) -> Submitted:
    """Submit the mix, the kinds interleaved in chunks so every queue and lane has work throughout."""
    out = Submitted()
    began = time.perf_counter()
    plan: list[tuple[str, Callable[[int], list[str]]]] = [
        ("bulk", lambda n: enqueue_many("diag.echo", [{"i": i} for i in range(n)], runtime=rt)),
        ("high", lambda n: enqueue_many("diag.echo", [{"i": i} for i in range(n)], priority=9, runtime=rt)),
        ("retried", lambda n: enqueue_many("diag.flaky", [{"fail_times": 1}] * n, runtime=rt)),
        ("delayed", lambda n: enqueue_many("diag.echo", [{"late": True}] * n, delay=5, runtime=rt)),
        ("slept", lambda n: enqueue_many("diag.sleep", [{"seconds": 0.2, "steps": 2}] * n, runtime=rt)),
        ("single", lambda n: [enqueue("diag.echo", {"single": i}, runtime=rt) for i in range(n)]),
        (
            "brief",
            lambda n: [
                enqueue("brief.sleep", {"seconds": 0.2 + 0.1 * (i % 8), "steps": 4}, webhook_url=sink_url, runtime=rt)
                for i in range(n)
            ],
        ),
        (
            "overrun",
            lambda n: [
                # half report progress (the worker's own timeout check ends them), half never do (the
                # function's timeout does: Lambda's hard stop)
                enqueue("brief.sleep", {"seconds": 6, "steps": 12 if i % 2 else 1}, webhook_url=sink_url, runtime=rt)
                for i in range(n)
            ],
        ),
        (
            "hopped",
            lambda n: [
                enqueue(
                    "brief.sleep",
                    {"seconds": 0.2, "steps": 2},
                    delay=HOPPED_DELAY_S + i % 30,
                    webhook_url=sink_url,
                    runtime=rt,
                )
                for i in range(n)
            ],
        ),
        (
            "webhooks",
            lambda n: [
                enqueue("webhook.deliver", {"url": sink_url, "event": "chaos", "timeout_s": 3}, runtime=rt)
                for _ in range(n)
            ],
        ),
    ]
    left = {kind: getattr(mix, kind) for kind, _ in plan}
    while any(left.values()):
        for kind, send in plan:
            n = min(left[kind], chunk if kind in BULK_KINDS else max(1, chunk // 20))
            if n <= 0:
                continue
            try:
                ids = send(n)
                out.add(kind, ids)
                if kind in ("brief", "overrun", "hopped"):
                    out.hooked.update(ids)
            except Exception as exc:  # an enqueue the caller saw fail: counted, never silently dropped
                out.refused.append(f"{kind} x{n}: {type(exc).__name__}: {exc}")
            left[kind] -= n
    for round_ in range(mix.images):
        out.uploads.update(upload_images(rt, f"run-{int(time.time())}-{round_}"))
    for round_ in range(mix.videos):
        out.uploads.update(upload_videos(rt, f"run-{int(time.time())}-{round_}"))
    out.seconds = time.perf_counter() - began
    return out


def upload_images(rt: Runtime, prefix: str) -> dict[str, str]:
    """The demo's sample photographs and bad files, uploaded under uploads/images/<prefix>/ (S3 -> SQS -> the
    image pipeline); returns each key with the status its record must end in."""
    bucket = images_settings(rt).media_bucket
    expected = {}
    for names, status in ((samples.PHOTOS, "completed"), (samples.BAD_INPUTS, "failed")):
        for name, make in names.items():
            key = f"uploads/images/{prefix}/{name}"
            rt.clients.s3.put_object(Bucket=bucket, Key=key, Body=make())
            expected[key] = status
    return expected


# The video uploads of a round: name -> (how to make it, the status its record must end in).
VIDEOS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "clip.mp4": (lambda out: video_samples.landscape(out, duration_s=2.0), "completed"),
    "cut-short.mp4": (lambda out: video_samples.truncated(out, duration_s=2.0), "failed"),
}


@functools.cache
def _video_bytes(name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return VIDEOS[name][0](Path(tmp) / name).read_bytes()


def upload_videos(rt: Runtime, prefix: str) -> dict[str, str]:
    """A clip and a broken MP4 uploaded under uploads/videos/<prefix>/ (S3 -> SQS -> the video pipeline's state
    machine); returns each key with the status its record must end in."""
    bucket = video_settings(rt).media_bucket
    expected = {}
    for name, (_, status) in VIDEOS.items():
        key = f"uploads/videos/{prefix}/{name}"
        rt.clients.s3.put_object(Bucket=bucket, Key=key, Body=_video_bytes(name))
        expected[key] = status
    return expected


def media_record(rt: Runtime, key: str) -> Any:
    """The image or video record of an upload key, None when there is none yet."""
    if key.startswith("uploads/videos/"):
        from offload.packs.video.steps import VideoPipeline

        return VideoPipeline(rt).store.get(key)
    return get_image(rt, key)


def pipelines_duplicated(rt: Runtime, keys: Iterable[str]) -> int:
    """Uploads whose image or video pipeline execution was started more than once (each should run one)."""
    wanted = set(keys)
    if not wanted:
        return 0
    sfn = rt.clients.client("stepfunctions")
    runs: Counter[str] = Counter()
    for arn in (images_settings(rt).pipeline_arn, video_settings(rt).pipeline_arn):
        if arn is None:
            continue
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for execution in page["executions"]:
                started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
                upload = started.get("image") or started.get("video") or {}  # the starters' payloads
                if upload.get("key") in wanted:
                    runs[upload["key"]] += 1
    return sum(1 for n in runs.values() if n > 1)


def uploads_settled(rt: Runtime, keys: Iterable[str]) -> bool:
    """Every upload's media record is final (completed, failed or cancelled)."""
    for key in keys:
        record = media_record(rt, key)
        if record is None or record.status not in MEDIA_LIFECYCLE.final:
            return False
    return True


def wait_drained(
    rt: Runtime, queues: list[str], *, timeout_s: float, every_s: float = 2.0, uploads: Iterable[str] = ()
) -> float:
    """Wait until these queues hold no message (waiting, in flight or delayed, lanes included) and then no job
    is queued, active or delayed by the table's status index; returns the seconds waited (timeout_s when it
    gave up). The queue depths are cheap to poll; the index is read only to confirm (moto copies every item a
    query matches, even to count them, which at 10,000 jobs would compete with the workers)."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout_s:
        depths = [rt.queues.depth(q) for q in queues]
        settled = not any(d["visible"] + d["in_flight"] + d["delayed"] for d in depths)
        settled = settled and uploads_settled(rt, uploads)
        if settled and all(rt.store.count(q, s) == 0 for q in queues for s in WAITING):
            return time.perf_counter() - began
        time.sleep(every_s)
    return timeout_s


@dataclass
class Account:
    submitted: int
    by_status: Counter[str]
    lost: list[str]
    failed_reasons: Counter[str]
    duplicated: int
    hooks_lost: list[str]  # finished jobs that asked for a webhook the sink never took (2xx)
    stats_add_up: bool
    stats_note: str
    lost_detail: list[str] = field(default_factory=list)  # what the first lost records say (the caller fills it)
    dup_detail: list[str] = field(default_factory=list)  # the same for the first deliveries applied twice


def account(rt: Runtime, sub: Submitted, sink: CountingSink, queues: list[str]) -> Account:
    """Every submitted job, by its record: lost = no record or not terminal; plus the queues' own figures."""
    ids = list(sub.kinds)
    found: dict[str, Any] = {}
    for i in range(0, len(ids), 100):
        for job in rt.store.get_many(ids[i : i + 100]):
            found[job.job_id] = job
    by_status: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    lost: list[str] = []
    hooks_lost: list[str] = []
    for job_id in ids:
        job = found.get(job_id)
        if job is None or job.status not in TERMINAL:
            lost.append(job_id)
            continue
        by_status[job.status.value] += 1
        if job_id in sub.hooked:
            delivery = idempotent_job_id(WEBHOOK_TYPE, f"{job_id}:{job.status.value}")  # the hook's own key
            if not sink.applied.get(delivery):
                hooks_lost.append(job_id)
        if job.status == JobStatus.FAILED:
            reasons[(job.error.reason if job.error else "no reason")[:70]] += 1
    for key, want in sub.uploads.items():
        kind = "video" if key.startswith("uploads/videos/") else "image"
        record = media_record(rt, key)
        if record is None or record.status not in MEDIA_LIFECYCLE.final:
            lost.append(key)
            continue
        by_status[record.status] += 1
        if record.status != want:
            reasons[f"{kind} {key.rsplit('/', 1)[-1]} ended {record.status}, expected {want}"] += 1
        elif record.status == "failed":
            reasons[f"{kind}: {(record.error or {}).get('reason', 'no reason')[:60]}"] += 1
    notes = []
    rows = {r["queue"]: r for r in queue_stats(rt) if r["queue"] in queues}
    for name, row in rows.items():
        waiting = row["waiting"] + row["active"] + row["delayed"]
        messages = row["messages"]
        if waiting:
            notes.append(f"{name}: {waiting} records not terminal")
        if messages["visible"] + messages["in_flight"] + messages["delayed"]:
            notes.append(f"{name}: messages left {json.dumps(messages)}")
        if messages["dlq"] > row["failed"]:
            notes.append(f"{name}: {messages['dlq']} dead letters but {row['failed']} failed records")
    finished = sum(rows[q]["completed"] + rows[q]["failed"] + rows[q]["cancelled"] for q in rows)
    if finished < len(ids) - len(lost):
        notes.append(f"the queues count {finished} finished jobs, the records {len(ids) - len(lost)}")
    return Account(
        submitted=len(ids) + len(sub.uploads),
        by_status=by_status,
        lost=lost,
        failed_reasons=reasons,
        duplicated=sink.duplicated() + pipelines_duplicated(rt, sub.uploads),
        hooks_lost=hooks_lost,
        stats_add_up=not notes,
        stats_note="; ".join(notes) or "every message settled; records, queues and dead letters agree",
    )
