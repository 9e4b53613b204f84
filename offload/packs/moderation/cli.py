"""`offload moderation ...`: moderate text, images and videos (as jobs), report, review, approve, reject, appeal."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail, stderr
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.cli.watch import watch_job
from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.packs.moderation.service import Moderation, ModerationError, resolve_subject
from offload.packs.moderation.store import ModerationRecord, subject_key
from offload.runtime import Runtime

app = typer.Typer(
    name="moderation",
    help="Moderation: text, images and videos as jobs; user reports; the review queue and decisions.",
    no_args_is_help=True,
)

WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the job and print its result.")]
ByOption = Annotated[str, typer.Option("--by", help="Who decides (recorded in the history).")]
NoteOption = Annotated[str, typer.Option("--note", help="Why (recorded in the history).")]
WAIT_TIMEOUT_S = 120.0


def _run(rt: Runtime, type_name: str, data: dict[str, Any], wait: bool) -> None:
    """Enqueue one job; with `wait`, follow it and print its result (exit 1 when it failed)."""
    job_id = enqueue(type_name, data, runtime=rt)
    if not wait:
        render.emit_json({"jobId": job_id, "status": "queued"})
        return
    job = watch_job(rt, job_id, interval_s=0.5, timeout_s=WAIT_TIMEOUT_S, console=stderr)
    if not job.status.terminal:
        fail(
            f"job {job_id} is still {job.status.value} after {WAIT_TIMEOUT_S:g}s: follow it with "
            f"`offload jobs get {job_id} --watch`"
        )
    if job.status.value != "completed":
        reason = job.error.reason if job.error else job.status.value
        fail(f"job {job_id} ({type_name}) {job.status.value}: {reason}")
    render.emit_json({"jobId": job_id, **(admin.get_job(rt, job_id).result or {})})


@app.command()
def text(
    ctx: typer.Context,
    content: Annotated[str, typer.Argument(metavar="TEXT", help="The text to moderate")],
    ident: Annotated[str | None, typer.Option("--id", help="Record it as text:ID (default: a hash)")] = None,
    wait: WaitOption = True,
) -> None:
    """Moderate a text (a `moderate.text` job)."""
    _run(runtime_of(ctx), "moderate.text", {"text": content, **({"id": ident} if ident else {})}, wait)


@app.command()
def image(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The image's key in the media bucket")],
    wait: WaitOption = True,
) -> None:
    """Moderate an image of the media bucket (a `moderate.image` job)."""
    _run(runtime_of(ctx), "moderate.image", {"key": key}, wait)


@app.command()
def video(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The video's key in the media bucket")],
    frames: Annotated[int | None, typer.Option("--frames", min=1, max=50, help="Frames to sample")] = None,
    wait: WaitOption = True,
) -> None:
    """Moderate frames sampled across a video (a `moderate.video` job)."""
    _run(runtime_of(ctx), "moderate.video", {"key": key, **({"frames": frames} if frames else {})}, wait)


@app.command()
def report(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="image:KEY, video:KEY, text:ID or an upload key")],
    by: Annotated[str, typer.Option("--by", help="The reporting user")],
    reason: Annotated[str, typer.Option("--reason", help="What is wrong with it")],
    wait: WaitOption = True,
) -> None:
    """Report an item (a `moderation.report` job); enough distinct reporters escalate it."""
    _check(subject)
    _run(runtime_of(ctx), "moderation.report", {"subject": subject, "reporter": by, "reason": reason}, wait)


@app.command()
def appeal(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="The appealed item: image:KEY, video:KEY or text:ID")],
    decision: Annotated[str, typer.Argument(help="approve or reject")],
    by: ByOption,
    note: NoteOption = "",
    wait: WaitOption = True,
) -> None:
    """Record the human decision on an appeal (a `moderation.appeal` job)."""
    _check(subject)
    if decision not in ("approve", "reject"):
        fail(f"decision {decision!r} is not 'approve' or 'reject'", code=2)
    data = {"subject": subject, "decision": decision, "reviewer": by, "note": note}
    _run(runtime_of(ctx), "moderation.appeal", data, wait)


@app.command()
def review(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The review queue: flagged items, held back until a reviewer decides, oldest first."""
    records = Moderation(runtime_of(ctx)).review_queue()
    if as_json:
        render.emit_json([r.model_dump(mode="json") for r in records])
        return
    if not records:
        render.stdout.print("nothing waits for review: no item is flagged")
        return
    table = Table("subject", "verdict", "reason", "reports", "since", title="flagged, held back", title_justify="left")
    for r in records:
        table.add_row(r.key, str(r.verdict or ""), str(r.reason or "")[:80], str(len(r.reporters)), r.updated_at)
    render.stdout.print(table)
    render.stdout.print("decide: offload moderation approve|reject SUBJECT --by NAME --note WHY")


@app.command()
def get(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="image:KEY, video:KEY, text:ID or an upload key")],
    as_json: JsonOption = False,
) -> None:
    """An item's moderation record: state, verdict, scores over threshold, reports and history."""
    key = subject_key(*_check(subject))
    record = Moderation(runtime_of(ctx)).store.get(key)
    if record is None:
        fail(f"no moderation record for {key}: moderate it first (offload moderation text|image|video ...)")
    if as_json:
        render.emit_json(record.model_dump(mode="json"))
        return
    _print(record)


def _decide(ctx: typer.Context, subject: str, decision: str, by: str, note: str) -> None:
    _check(subject)
    try:
        record = Moderation(runtime_of(ctx)).human_decision(subject, decision, by=by, note=note)  # type: ignore[arg-type]
    except ModerationError as exc:
        fail(str(exc))
    render.stdout.print(f"{record.key}: {record.status} (by {by})")


@app.command()
def approve(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="image:KEY, video:KEY or text:ID")],
    by: ByOption,
    note: NoteOption = "",
) -> None:
    """A reviewer approves an item: its outputs are served again."""
    _decide(ctx, subject, "approve", by, note)


@app.command()
def reject(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="image:KEY, video:KEY or text:ID")],
    by: ByOption,
    note: NoteOption = "",
) -> None:
    """A reviewer rejects an item: its outputs stay held back."""
    _decide(ctx, subject, "reject", by, note)


def _check(subject: str) -> tuple[Any, str]:
    try:
        return resolve_subject(subject)
    except ModerationError as exc:
        fail(str(exc), code=2)


def _print(record: ModerationRecord) -> None:
    out = render.stdout
    out.print(f"[bold]{record.key}[/]  status: {record.status}  verdict: {record.verdict}")
    if record.reason:
        out.print(record.reason)
    if record.over:
        out.print("over threshold: " + ", ".join(f"{c} {s:.2f}" for c, s in sorted(record.over.items())))
    if record.reporters:
        out.print(f"reported by {len(record.reporters)}: {', '.join(record.reporters)}")
    table = Table("at", "action", "status", "by", "note", title="history", title_justify="left")
    for h in record.history:
        table.add_row(h.get("at", ""), h.get("action", ""), h.get("status", ""), h.get("by", ""), h.get("note", ""))
    out.print(table)
