"""`offload videos ...`: video, audio and live-stream records by upload key; cancelling a run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.media.records import MEDIA_LIFECYCLE, CancelError, cancel_record
from offload.packs.video.steps import VideoPipeline
from offload.packs.video.store import VideoRecord

app = typer.Typer(name="videos", help="Video pipeline: records by upload key, list, cancel.", no_args_is_help=True)
STATUSES = ", ".join(MEDIA_LIFECYCLE.states)


def record_doc(record: VideoRecord) -> dict:
    """A record as --json prints it (with its progress per stage)."""
    return {**record.model_dump(mode="json"), "progress": record.progress}


@app.command()
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The upload key, e.g. uploads/videos/clip.mp4")],
    as_json: JsonOption = False,
) -> None:
    """A video's record: status, progress per stage, failure reason, and every output."""
    record = VideoPipeline(runtime_of(ctx)).store.get(key)
    if record is None:
        fail(f"no video record for {key!r}: upload it under uploads/videos/ (or uploads/audio/) in the media bucket")
    if as_json:
        render.emit_json(record_doc(record))
        return
    out = render.stdout
    video = (record.facts or {}).get("video") or {}
    shape = f"{video.get('display_width')}x{video.get('display_height')}" if video else record.kind
    duration = (record.facts or {}).get("duration_s")
    out.print(
        f"[bold]{record.key}[/]  {record.kind}  status: {record.status}  {shape}"
        + (f"  {duration:.2f} s" if duration else "")
    )
    progress = "  ".join(f"{stage} {pct:.0%}" for stage, pct in record.progress.items())
    out.print(f"progress: {progress}")
    if record.error:
        out.print(f"[red]failed at {record.error.get('step')}: {record.error.get('reason')}[/]")
    if record.outputs:
        table = Table("kind", "codec", "size", "duration_s", "kbit/s", "bytes", "key")
        for o in record.outputs:
            size = f"{o['width']}x{o['height']}" if o.get("width") else ""
            kbps = f"{o['bitrate'] / 1000:.0f}" if o.get("bitrate") else ""
            dur = f"{o['duration_s']:.2f}" if o.get("duration_s") else ""
            table.add_row(o["kind"], str(o.get("codec") or ""), size, dur, kbps, str(o.get("bytes", "")), o["key"])
        out.print(table)


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", "-s", help=f"Only this status: {STATUSES}")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Video records, most recently updated first (one status with --status)."""
    if status is not None and status not in MEDIA_LIFECYCLE.states:
        fail(f"unknown status {status!r}: use one of {STATUSES}", code=2)
    store = VideoPipeline(runtime_of(ctx)).store
    if status is None:
        records = sorted(store.scan(), key=lambda r: r.updated_at, reverse=True)[:limit]
    else:
        records = store.by_status(status, limit=limit)
    if as_json:
        render.emit_json([record_doc(r) for r in records])
        return
    if not records:
        render.stdout.print("no video records" + (f" with status {status}" if status else ""))
        return
    table = Table("status", "kind", "stage", "progress", "outputs", "updated", "key")
    for r in records:
        done = sum(r.progress.values()) / max(len(r.progress), 1)
        table.add_row(r.status, r.kind, r.stage or "", f"{done:.0%}", str(len(r.outputs)), r.updated_at, r.key)
    render.stdout.print(table)


@app.command()
def cancel(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The upload key of a pending or processing video")],
) -> None:
    """Stop a video's running execution; the record ends `cancelled`, never `completed`."""
    rt = runtime_of(ctx)
    try:
        record = cancel_record(
            VideoPipeline(rt).store,
            rt.clients.client("stepfunctions"),
            key,
            noun="video",
            get_command=f"offload videos get {key}",
        )
    except CancelError as exc:
        fail(str(exc))
    render.stdout.print(f"{record.key}: cancelled" + (" (execution stopped)" if record.execution_arn else ""))
