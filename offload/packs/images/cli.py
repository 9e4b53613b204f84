"""`offload images ...`: image records by upload key, and semantic search over indexed images."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.media.records import CancelError
from offload.packs.images.search import cancel_image, get_image, search

app = typer.Typer(help="Image pipeline: records by upload key, semantic search.", no_args_is_help=True)


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
    as_json: JsonOption = False,
) -> None:
    """The indexed images nearest to a text query, with cosine scores."""
    try:
        hits = search(runtime_of(ctx), query, limit=limit)
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
