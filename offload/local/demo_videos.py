"""The demo's videos: two generated clips and one broken file uploaded under uploads/videos/, shown
live as the video pipeline runs them, and their records and outputs written to demo-output/videos/."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from offload.media.video import samples
from offload.packs.video.settings import video_settings
from offload.packs.video.steps import VideoPipeline, output_root
from offload.runtime import Runtime


@dataclass
class Upload:
    """One demo upload, the status it should end in, and its record as last read."""

    name: str
    key: str
    expect: str
    record: Any = None


def upload_videos(rt: Runtime) -> list[Upload]:
    """A landscape clip with audio, a rotated portrait one without, and an MP4 cut short (no moov)."""
    bucket = video_settings(rt).media_bucket
    made = [
        Upload("landscape with audio.mp4", "uploads/videos/landscape with audio.mp4", "completed"),
        Upload("portrait phone clip.mp4", "uploads/videos/portrait phone clip.mp4", "completed"),
        Upload("cut short.mp4", "uploads/videos/bad/cut short.mp4", "failed"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = [
            samples.landscape(work / "a.mp4", width=1280, height=720, duration_s=6.0),
            samples.portrait(work / "b.mp4", width=640, height=360, duration_s=4.0, rotation=90),
            samples.truncated(work / "c.mp4"),
        ]
        for upload, path in zip(made, files, strict=True):
            rt.clients.s3.put_object(Bucket=bucket, Key=upload.key, Body=path.read_bytes())
    return made


def video_table(rt: Runtime, uploads: list[Upload]) -> Table:
    """The live view: each upload's status, stage and progress, outputs, or the failed step and reason."""
    table = Table(title="videos (uploads/videos/ -> state machine with a Map)", expand=True, title_justify="left")
    for col in ("upload", "status", "shown as", "progress", "outputs / reason"):
        table.add_column(col, overflow="fold")
    store = VideoPipeline(rt).store
    for u in uploads:
        u.record = r = store.get(u.key)
        if r is None:
            table.add_row(u.name, "[dim]queued[/]", "", "", "")
            continue
        video = (r.facts or {}).get("video") or {}
        shape = f"{video['display_width']}x{video['display_height']}" if video else ""
        progress = " ".join(f"{stage} {pct:.0%}" for stage, pct in r.progress.items())
        detail = f"{r.error['step']}: {r.error['reason']}" if r.error else ", ".join(o["kind"] for o in r.outputs)
        style = {"completed": "green", "failed": "bold red", "processing": "bold blue"}.get(r.status, "cyan")
        table.add_row(u.name, f"[{style}]{r.status}[/]", shape, progress, detail[:110])
    return table


def videos_done(uploads: list[Upload]) -> bool:
    return all(u.record is not None and u.record.status == u.expect for u in uploads)


def summarise_videos(rt: Runtime, uploads: list[Upload], out: Path) -> list[str]:
    """Write each video's record.json and outputs (HLS folders included) to out/<name>/; the problems found."""
    problems = []
    pipeline = VideoPipeline(rt)
    s3 = rt.clients.s3
    for u in uploads:
        r = pipeline.store.get(u.key)
        if r is None or r.status != u.expect:
            problems.append(f"video {u.name}: expected {u.expect}, got {r.status if r else 'no record'}")
            continue
        folder = out / Path(u.name).stem.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "record.json").write_text(json.dumps({**r.model_dump(mode="json"), "progress": r.progress}, indent=2))
        if r.status != "completed":
            continue
        root = output_root(u.key)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=pipeline.bucket, Prefix=root):
            for obj in page.get("Contents", []):
                pipeline.fetch(obj["Key"], folder / obj["Key"].removeprefix(root))
    return problems


GENERATE_PROMPT = "A lighthouse at dawn over a calm sea. Gulls circle the lamp. Night falls on the harbour."


def summarise_generation(rt: Runtime, job_id: str, out: Path) -> list[str]:
    """Write a generated video's job result, record, script, scene images, clips and published outputs to
    out/<job id>/; the problems found."""
    from offload.jobs import admin
    from offload.packs.generate.steps import Generation, job_root

    job = admin.get_job(rt, job_id)
    if job.status.value != "completed":
        return [f"generated video {job_id}: expected completed, got {job.status.value} ({job.error})"]
    g = Generation(rt)
    folder = out / job_id
    folder.mkdir(parents=True, exist_ok=True)
    record = g.store.get(job_id)
    doc = {"job": job.summary(), "record": record.model_dump(mode="json") if record else None}
    (folder / "generation.json").write_text(json.dumps(doc, indent=2, default=str))
    pipeline = VideoPipeline(rt)
    prefixes = [job_root(job_id), output_root(job.result["video_key"])]
    for prefix in prefixes:
        for page in rt.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=g.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"].removeprefix(prefix)
                pipeline.fetch(obj["Key"], folder / ("published" if prefix != job_root(job_id) else "work") / rel)
    return []
