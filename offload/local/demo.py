"""`make demo`: the local stack running a realistic mixed workload, shown live.

It starts the local cloud from the synthesized template, serves the files in samples/
on a loopback HTTP server (which also receives webhooks), queues a mix of jobs, lets
one job fail into the DLQ and redrives it to success, fires the daily DLQ-audit
schedule, and writes everything the jobs produced to demo-output/.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from offload.aws import Clients
from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.model import Job, JobStatus
from offload.jobs.notify import SIGNATURE_HEADER, verify
from offload.local import samples
from offload.local.cloud import LocalCloud, free_port
from offload.local.demo_videos import (
    GENERATE_PROMPT,
    Upload,
    summarise_generation,
    summarise_videos,
    upload_videos,
    video_table,
    videos_done,
)
from offload.packs.images.search import get_image, search
from offload.packs.images.settings import images_settings
from offload.runtime import Runtime
from offload.settings import Settings

# The demo runs in a source checkout of offload: its sample files and its output live there.
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
OUTPUT = ROOT / "demo-output"
TIMEOUT_S = 180
# The "provider" of one download answers 503 until the demo has seen the job fail its 3 attempts into the
# DLQ and the DLQ audit report it; then the provider comes back and a redrive brings the job to completed.
PROVIDER_PATH = "/provider/report.json"
STATUS_STYLE = {
    "queued": "cyan",
    "delayed": "yellow",
    "active": "bold blue",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "magenta",
}


@dataclass
class Receiver:
    """Loopback HTTP server: GET /samples/<name> serves a sample file, POST /hooks records a webhook,
    GET /provider/report.json answers 503 while the "provider" is down (until `provider_up` is set)."""

    secret: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    provider_up: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == PROVIDER_PATH:
                    self._provider()
                    return
                path = SAMPLES / self.path.removeprefix("/samples/")
                if not self.path.startswith("/samples/") or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv" if path.suffix == ".csv" else "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _provider(self) -> None:
                if not receiver.provider_up.is_set():
                    self.send_error(503, "provider outage")
                    return
                body = b'{"report": "ready"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signature = self.headers.get(SIGNATURE_HEADER, "")
                receiver.received.append(
                    {
                        "path": self.path,
                        "event": self.headers.get("X-Offload-Event"),
                        "signature_valid": verify(receiver.secret, body, signature),
                        "body": json.loads(body),
                    }
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


@dataclass
class Tracked:
    label: str
    job_id: str
    expect: JobStatus
    job: Job | None = None


def _job_table(rt: Runtime, tracked: list[Tracked]) -> Table:
    table = Table(title="jobs", expand=True, title_justify="left")
    for col in ("job", "type", "status", "progress", "attempts", "detail"):
        table.add_column(col, overflow="fold")
    for t in tracked:
        t.job = rt.store.get(t.job_id)
        job = t.job
        if job is None:
            continue
        detail = job.error.reason[:70] if job.error and job.status != JobStatus.COMPLETED else ""
        table.add_row(
            t.label,
            job.type,
            f"[{STATUS_STYLE[job.status.value]}]{job.status.value}[/]",
            ProgressBar(total=100, completed=job.progress, width=20),
            f"{job.attempts}/{job.max_attempts}",
            detail,
        )
    return table


def _queue_table(rt: Runtime) -> Table:
    table = Table(title="queues", expand=True, title_justify="left")
    for col in ("queue", "waiting", "active", "delayed", "failed", "completed", "cancelled", "SQS visible", "DLQ"):
        table.add_column(col, justify="right" if col != "queue" else "left")
    for row in admin.queue_stats(rt):
        table.add_row(
            row["queue"],
            *(str(row[k]) for k in ("waiting", "active", "delayed", "failed", "completed", "cancelled")),
            str(row["messages"]["visible"]),
            f"[red]{row['messages']['dlq']}[/]" if row["messages"]["dlq"] else "0",
        )
    return table


def run_demo(console: Console) -> int:
    """Run the whole demo; returns the process exit code."""
    began = time.time()
    shutil.rmtree(OUTPUT, ignore_errors=True)
    (OUTPUT / "fetched").mkdir(parents=True)
    console.rule("[bold]offload demo: the synthesized stack on this machine")
    cloud = LocalCloud(port=free_port(), log=lambda m: console.print(f"[dim]{m}[/]"))
    receiver = Receiver()
    with console.status("starting the local cloud (moto server + stack from cdk.out) ..."):
        cloud.start()
    try:
        for line in cloud.describe():
            console.print(f"  [dim]{line}[/]")
        settings = Settings.model_validate(json.loads(cloud.outputs["ClientConfig"]))
        rt = Runtime(settings, Clients(endpoint_url=cloud.endpoint, region="us-east-1"))
        receiver.secret = rt.clients.secrets.get_secret_value(SecretId=settings.webhook_secret_arn)["SecretString"]
        base = receiver.start()
        code = _workload(console, cloud, rt, base, receiver, began)
    finally:
        receiver.stop()
        cloud.stop()
    return code


def _workload(console: Console, cloud: LocalCloud, rt: Runtime, base: str, receiver: Receiver, began: float) -> int:
    uploads = _upload_images(rt)
    console.print(f"uploaded {len(uploads)} images to s3://{images_settings(rt).media_bucket}/uploads/images/")
    videos = upload_videos(rt)
    console.print(f"uploaded {len(videos)} videos (two generated clips, one cut short) to uploads/videos/")
    setup_s = time.time() - began
    t0 = time.time()
    tracked: list[Tracked] = []

    def add(label: str, expect: JobStatus, type_name: str, data: Any, **kwargs: Any) -> str:
        job_id = enqueue(type_name, data, runtime=rt, **kwargs)
        tracked.append(Tracked(label, job_id, expect))
        return job_id

    # The provider is down: this download fails its 3 attempts (backoff 1 s, 2 s) into the DLQ.
    flaky = add("provider outage", JobStatus.COMPLETED, "http.fetch", {"url": f"{base}{PROVIDER_PATH}"}, attempts=3)
    for i in range(1, 9):
        add(f"echo #{i}", JobStatus.COMPLETED, "diag.echo", {"n": i}, webhook_url=f"{base}/hooks" if i <= 2 else None)
    for name in sorted(p.name for p in SAMPLES.iterdir()):
        add(f"fetch {name}", JobStatus.COMPLETED, "http.fetch", {"url": f"{base}/samples/{name}"})
    for i in range(1, 4):
        add(f"sleep #{i}", JobStatus.COMPLETED, "diag.sleep", {"seconds": 1.5 + i, "steps": 10})
    generated = add(
        "generate a 3-scene video",
        JobStatus.COMPLETED,
        "video.generate",
        {"prompt": GENERATE_PROMPT, "size": "640x360", "clip_seconds": 2},
    )
    add("missing sample", JobStatus.FAILED, "http.fetch", {"url": f"{base}/samples/no-such-file.csv"})
    doomed = add("cancelled later", JobStatus.CANCELLED, "diag.echo", {"n": 0}, delay=60)
    admin.cancel(rt, doomed)
    bad_body = json.dumps({"type": "diag.sleep", "data": {"seconds": "a while"}})
    rt.clients.sqs.send_message(QueueUrl=settings_url(rt, "default"), MessageBody=bad_body)
    console.print(
        f"queued {len(tracked)} jobs + 1 malformed message in {time.time() - t0:.1f}s; setup took {setup_s:.1f}s"
    )

    redriven = audited = False
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while time.time() - t0 < TIMEOUT_S:
            jobs_view = _job_table(rt, tracked)
            images_view = _image_table(rt, uploads)
            live.update(Group(_queue_table(rt), jobs_view, images_view, video_table(rt, videos)))
            flaky_job = next(t.job for t in tracked if t.job_id == flaky)
            if not redriven and flaky_job and flaky_job.status == JobStatus.FAILED:
                if not audited:
                    cloud.trigger("daily-dlq-audit")  # the schedule, fired now: it finds the dead letter
                    audited = True
                elif _audit_done(rt):
                    receiver.provider_up.set()  # the provider is back: redrive the dead letter
                    report = admin.redrive(rt, "default")
                    live.console.print(f"[yellow]redrive default: moved {len(report.moved)} job(s) back[/]")
                    redriven = True
            images_done = all(u.record and u.record.status == u.expect for u in uploads)
            if (
                redriven
                and images_done
                and videos_done(videos)
                and all(t.job and t.job.status == t.expect for t in tracked)
                and _audit_done(rt)
            ):
                break
            time.sleep(0.25)
        live.update(
            Group(_queue_table(rt), _job_table(rt, tracked), _image_table(rt, uploads), video_table(rt, videos))
        )
    elapsed = time.time() - t0
    code = _summarise(console, rt, tracked, receiver, elapsed, setup_s)
    code = _summarise_images(console, rt, uploads) or code
    problems = summarise_videos(rt, videos, OUTPUT / "videos")
    done = sum(1 for v in videos if v.expect == "completed")
    console.print(
        f"{done} videos completed with MP4, WebM, HLS, poster and sprite in demo-output/videos/; "
        f"{len(videos) - done} bad one failed with its reason"
    )
    generation_problems = summarise_generation(rt, generated, OUTPUT / "generated")
    if not generation_problems:
        console.print(
            f"generated a 3-scene video (local providers: script, Pillow scenes, ffmpeg clips, merge, MP4 + HLS) "
            f"in demo-output/generated/{generated}/"
        )
    problems += generation_problems
    for p in problems:
        console.print(f"[bold red]problem:[/] {p}")
    return 1 if problems else code


def _upload_images(rt: Runtime) -> list[Upload]:
    """Upload the sample photographs and the bad inputs to the media bucket (S3 -> SQS -> pipeline)."""
    uploads = []
    for name, make in samples.PHOTOS.items():
        uploads.append(Upload(name, f"uploads/images/{name}", "completed"))
        rt.clients.s3.put_object(Bucket=images_settings(rt).media_bucket, Key=uploads[-1].key, Body=make())
    for name, make in samples.BAD_INPUTS.items():
        uploads.append(Upload(name, f"uploads/images/bad/{name}", "failed"))
        rt.clients.s3.put_object(Bucket=images_settings(rt).media_bucket, Key=uploads[-1].key, Body=make())
    return uploads


def _image_table(rt: Runtime, uploads: list[Upload]) -> Table:
    table = Table(title="images (uploads/images/ -> state machine)", expand=True, title_justify="left")
    for col in ("upload", "status", "size", "variants", "metadata / reason"):
        table.add_column(col, overflow="fold")
    for u in uploads:
        u.record = get_image(rt, u.key)
        r = u.record
        if r is None:
            table.add_row(u.name, "[dim]queued[/]", "", "", "")
            continue
        detail = (
            (r.metadata or {}).get("description", "")
            if r.status != "failed"
            else f"{r.error['step']}: {r.error['reason']}"
        )
        style = {"completed": "green", "failed": "bold red", "processing": "bold blue"}.get(r.status, "cyan")
        table.add_row(
            u.name,
            f"[{style}]{r.status}[/]",
            f"{r.width}x{r.height}" if r.width else "",
            str(len(r.variants)) if r.variants else "",
            str(detail)[:90],
        )
    return table


def _summarise_images(console: Console, rt: Runtime, uploads: list[Upload]) -> int:
    """Write each image's record, variants and thumbnails to demo-output/images/; search once."""
    problems = []
    out = OUTPUT / "images"
    for u in uploads:
        r = get_image(rt, u.key)
        if r is None or r.status != u.expect:
            problems.append(f"image {u.name}: expected {u.expect}, got {r.status if r else 'no record'}")
            continue
        folder = out / Path(u.name).stem.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "record.json").write_text(json.dumps(r.model_dump(mode="json"), indent=2))
        for v in r.variants:
            body = rt.clients.s3.get_object(Bucket=images_settings(rt).media_bucket, Key=v["key"])["Body"].read()
            (folder / Path(v["key"]).name).write_bytes(body)
    hits = search(rt, "orange sunset", limit=3)
    (out / "search-orange-sunset.json").write_text(json.dumps(hits, indent=2))
    table = Table("score", "key", "description", title="search: 'orange sunset'", title_justify="left")
    for hit in hits:
        table.add_row(f"{hit['score']:.3f}", hit["key"], str(hit.get("description", ""))[:70])
    console.print(table)
    if not hits or "sunset" not in hits[0]["key"]:
        problems.append(f"search for 'orange sunset' did not put the sunset first: {[h['key'] for h in hits]}")
    done = sum(1 for u in uploads if u.expect == "completed")
    bad = len(uploads) - done
    console.print(f"{done} images completed with variants in demo-output/images/; {bad} bad ones failed with reasons")
    for p in problems:
        console.print(f"[bold red]problem:[/] {p}")
    return 1 if problems else 0


def settings_url(rt: Runtime, queue: str) -> str:
    return rt.settings.queue_urls(queue).url


def _audit_done(rt: Runtime) -> bool:
    return bool(admin.list_jobs(rt, JobStatus.COMPLETED, queue="maintenance", limit=5))


def _summarise(
    console: Console, rt: Runtime, tracked: list[Tracked], receiver: Receiver, elapsed: float, setup_s: float
) -> int:
    problems = [
        f"{t.label}: expected {t.expect.value}, got {t.job.status.value if t.job else 'nothing'}"
        for t in tracked
        if not t.job or t.job.status != t.expect
    ]
    malformed = [j for j in admin.list_jobs(rt, JobStatus.FAILED, queue="default") if j.job_id.startswith("sqs-")]
    audits = admin.list_jobs(rt, JobStatus.COMPLETED, queue="maintenance")
    if not malformed:
        problems.append("the malformed message did not end as a failed job")
    if not audits:
        problems.append("the DLQ-audit schedule did not run")
    if len(receiver.received) < 2 or not all(r["signature_valid"] for r in receiver.received):
        problems.append(
            f"webhooks: {len(receiver.received)} received, signatures valid: "
            f"{[r['signature_valid'] for r in receiver.received]}"
        )

    summary = Table(title="summary", title_justify="left")
    for col in ("job", "status", "attempts", "result / error"):
        summary.add_column(col, overflow="fold")
    records = []
    for t in tracked:
        job = t.job
        assert job is not None
        records.append({"label": t.label, **job.summary()})
        shown = (
            json.dumps(job.result)[:80]
            if job.status == JobStatus.COMPLETED
            else (f"{job.error.step}: {job.error.reason[:80]}" if job.error else "")
        )
        summary.add_row(t.label, f"[{STATUS_STYLE[job.status.value]}]{job.status.value}[/]", str(job.attempts), shown)
    for job in malformed:
        records.append({"label": "malformed message", **job.summary()})
        summary.add_row(
            "malformed message", "[bold red]failed[/]", str(job.attempts), job.error.reason[:80] if job.error else ""
        )
    for job in audits[:1]:
        records.append({"label": "daily DLQ audit (schedule)", **job.summary()})
        summary.add_row("daily DLQ audit", "[green]completed[/]", str(job.attempts), json.dumps(job.result)[:80])
    console.print(summary)

    for t in tracked:
        if t.job and t.job.type == "http.fetch" and t.job.status == JobStatus.COMPLETED:
            key = t.job.result["key"]
            body = rt.clients.s3.get_object(Bucket=t.job.result["bucket"], Key=key)["Body"].read()
            (OUTPUT / "fetched" / Path(key).name).write_bytes(body)
    (OUTPUT / "jobs.json").write_text(json.dumps(records, indent=2))
    (OUTPUT / "webhooks.json").write_text(json.dumps(receiver.received, indent=2))
    (OUTPUT / "queues.json").write_text(json.dumps(admin.queue_stats(rt), indent=2))
    console.print(
        f"{len(tracked) + len(malformed) + len(audits)} jobs in {elapsed:.1f}s after {setup_s:.1f}s of set-up; "
        f"{len(receiver.received)} signed webhooks received; outputs in {OUTPUT.relative_to(ROOT)}/"
    )
    if problems:
        for p in problems:
            console.print(f"[bold red]problem:[/] {p}")
        return 1
    console.print("[bold green]demo finished: every job ended as expected[/]")
    return 0


def _short(job: Job) -> str:
    """One cell: the result (fetched files by key and size), or the failed step and reason."""
    if job.status == JobStatus.COMPLETED:
        result = job.result
        if isinstance(result, dict) and "key" in result and "bytes" in result:
            return f"s3://.../{result['key']} ({result['bytes']} bytes)"
        return json.dumps(result)[:100]
    return f"{job.error.step}: {job.error.reason[:110]}" if job.error else ""


def main() -> None:
    console = Console()
    sys.exit(run_demo(console))


if __name__ == "__main__":
    main()
