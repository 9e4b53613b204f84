"""`offload generate ...`: a generation's record and its scenes (start one with `offload jobs add video.generate`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.packs.generate.steps import Generation, script_key

app = typer.Typer(name="generate", help="AI video generation: a generation's record and scenes.", no_args_is_help=True)


@app.command()
def get(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The video.generate job's id")],
    as_json: JsonOption = False,
) -> None:
    """A generation: provider, status, stage, error, and each scene's clip (provider job, polls, timing)."""
    g = Generation(runtime_of(ctx))
    record = g.store.get(job_id)
    if record is None:
        fail(f"no generation record for {job_id!r}: start one with `offload jobs add video.generate -d '{{...}}'`")
    script = g.get_json(script_key(job_id)) or {"scenes": []}
    clips = [g.clip_state(job_id, i) for i in range(len(script["scenes"]))]
    if as_json:
        render.emit_json({**record.model_dump(mode="json"), "scenes": script["scenes"], "clips": clips})
        return
    out = render.stdout
    out.print(
        f"[bold]{record.key}[/]  {record.provider} {record.model or ''}  status: {record.status}  "
        f"stage: {record.stage}  clips: {record.clips_done}/{record.scenes_total or '?'}"
    )
    if record.error_message:
        out.print(f"[red]failed at {(record.error or {}).get('step')}: {record.error_message}[/]")
    table = Table("scene", "text", "seconds", "clip", "provider job", "polls", "took s", "error")
    for scene, clip in zip(script["scenes"], clips, strict=True):
        error = (clip.get("error") or {}).get("reason", "")
        took = clip.get("seconds_taken")
        table.add_row(
            str(clip["index"] + 1),
            scene["text"][:40],
            f"{scene['seconds']:g}",
            str(clip.get("status")),
            str(clip.get("provider_job_id") or ""),
            str(clip.get("polls") or 0),
            f"{took:.1f}" if took is not None else "",
            error[:60],
        )
    out.print(table)
    if record.video_key:
        out.print(f"merged: s3://{record.bucket}/{record.video_key}")
