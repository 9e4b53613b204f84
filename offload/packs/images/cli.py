"""`offload images ...`: image records by upload key, and semantic search over indexed images."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.media.records import CancelError
from offload.packs.images.reindex import ReindexState, read_state, start_reindex
from offload.packs.images.search import cancel_image, get_image, search, search_filter

app = typer.Typer(help="Image pipeline: records by upload key, semantic search, re-indexing.", no_args_is_help=True)


@app.command()
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The upload key, e.g. uploads/images/cat.jpg")],
    as_json: JsonOption = False,
) -> None:
    """An image's record: status, failure reason, metadata and variants."""
    record = get_image(runtime_of(ctx), key)
    if record is None:
        fail(f"no image record for {key!r}: upload it under uploads/images/ in the media bucket first")
    if as_json:
        render.emit_json(record.model_dump(mode="json"))
        return
    out = render.stdout
    size = f"{record.width or '?'}x{record.height or '?'} {record.format or ''}"
    out.print(f"[bold]{record.key}[/]  status: {record.status}  {size}")
    if record.error:
        out.print(f"[red]failed at {record.error.get('step')}: {record.error.get('reason')}[/]")
    if record.metadata:
        meta = record.metadata
        out.print(f"{meta.get('description', '')}")
        tags, colours = ", ".join(meta.get("tags", [])), " ".join(meta.get("dominant_colors", []))
        out.print(f"tags: {tags}  mood: {meta.get('mood')}  colours: {colours}")
    if record.variants:
        table = Table("kind", "width", "height", "format", "bytes", "key")
        for v in record.variants:
            table.add_row(v["kind"], str(v["width"]), str(v["height"]), v["format"], str(v["bytes"]), v["key"])
        out.print(table)


@app.command("search")
def search_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in words")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    status: Annotated[str | None, typer.Option(help="only vectors with this status, e.g. indexed")] = None,
    tag: Annotated[str | None, typer.Option(help="only images with this tag")] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="NAME=VALUE metadata equality, repeatable (e.g. mood=calm)")
    ] = None,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help='a metadata filter as JSON, e.g. \'{"tags": {"$in": ["cat"]}}\'')
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The indexed images nearest to a text query, with cosine scores, optionally filtered by metadata."""
    try:
        flt = search_filter(status=status, tag=tag, where=_pairs(where or []), raw=filter_json)
        hits = search(runtime_of(ctx), query, limit=limit, filter=flt)
    except ValueError as exc:
        fail(str(exc), code=2)
    if as_json:
        render.emit_json(hits)
        return
    if not hits:
        render.stdout.print(
            f"no images match {query!r}: the index is empty; upload images under uploads/images/ in the media "
            "bucket and search again once `offload images get KEY` shows them completed"
        )
        return
    table = Table("score", "key", "description", title=f"images like {query!r}", title_justify="left")
    for hit in hits:
        table.add_row(f"{hit['score']:.3f}", hit["key"], str(hit.get("description", ""))[:80])
    render.stdout.print(table)


def _pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--where {item!r}: give NAME=VALUE, e.g. --where mood=calm", code=2)
        pairs[name.strip()] = value
    return pairs


@app.command("reindex")
def reindex_command(
    ctx: typer.Context,
    restart: Annotated[bool, typer.Option(help="start over instead of resuming an unfinished run")] = False,
    wait: Annotated[bool, typer.Option(help="follow the run's progress until it is done")] = True,
    timeout_s: Annotated[float, typer.Option("--timeout", help="stop following after this many seconds")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Re-embed the indexed images with the configured embedder into a new index; search switches when done."""
    rt = runtime_of(ctx)
    job_id = start_reindex(rt, restart=restart)
    if not wait:
        if as_json:
            render.emit_json({"job_id": job_id})
        else:
            render.stdout.print(f"re-index queued as job {job_id}: follow it with `offload images reindex-status`")
        return
    state = _follow(rt, job_id, timeout_s, quiet=as_json)
    if as_json:
        render.emit_json({"job_id": job_id, **(asdict(state) if state else {})})
    elif state is None or state.status != "completed":
        fail(f"the re-index (job {job_id}) has not finished yet: `offload images reindex-status` shows where it is")
    else:
        render.stdout.print(f"re-indexed {state.done} images into {state.target['name']}: search now uses it")


def _follow(rt: Any, job_id: str, timeout_s: float, *, quiet: bool) -> ReindexState | None:
    """Poll the run's state (and its first job's status) until it completes, fails or the timeout passes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout_s
    state = None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=render.stdout, disable=quiet) as bar:
        task = bar.add_task("re-indexing", total=None)
        while time.monotonic() < deadline:
            state = read_state(rt)
            if state is not None and job_id in state.jobs:
                bar.update(task, total=state.total or None, completed=state.done)
                if state.status == "completed":
                    return state
            job = rt.store.get(job_id)
            if job is not None and job.status.value == "failed":
                reason = job.error.reason if job.error else "unknown"
                fail(f"the re-index job {job_id} failed: {reason}; fix that and run `offload images reindex` again")
            time.sleep(0.5)
    return state


@app.command("reindex-status")
def reindex_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The last re-index run: its target index, how far it got, and which index search uses."""
    rt = runtime_of(ctx)
    state = read_state(rt)
    if as_json:
        render.emit_json(asdict(state) if state else None)
        return
    if state is None:
        render.stdout.print("no re-index has run: search uses the configured embedder's index")
        return
    target = state.target
    render.stdout.print(
        f"{state.status}: {state.done}/{state.total} images ({state.percent}%) into {target['name']} "
        f"({target['model']}, {target['dimensions']} dimensions); started {state.started_at}"
        + (f", finished {state.finished_at}" if state.finished_at else "")
    )


@app.command()
def cancel(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The upload key of a pending or processing image")],
) -> None:
    """Stop an image's running pipeline; the record ends `cancelled`, never `completed`."""
    try:
        record = cancel_image(runtime_of(ctx), key)
    except CancelError as exc:
        fail(str(exc))
    render.stdout.print(f"{record.key}: cancelled" + (" (execution stopped)" if record.execution_arn else ""))
