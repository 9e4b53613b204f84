"""`offload notify ...`: send email, digests, SMS, push and Discord messages; read delivery records."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail
from offload.cli.jobs import JsonOption, parse_data
from offload.cli.resources import runtime_of
from offload.jobs.enqueue import enqueue
from offload.packs.notifications import PRIORITIES
from offload.packs.notifications.delivery import delivery_store
from offload.packs.notifications.store import DeliveryRecord

app = typer.Typer(
    name="notify", help="Notifications: email, SMS, push, Discord; delivery records.", no_args_is_help=True
)

PriorityOption = Annotated[
    str | None,
    typer.Option(
        "--priority",
        help=f"A seed 003 level ({', '.join(f'{k}={v}' for k, v in PRIORITIES.items())}) or 0-10.",
    ),
]
VarOption = Annotated[list[str] | None, typer.Option("--var", help="A template variable, NAME=VALUE (repeatable).")]


def priority_of(value: str | None) -> int | None:
    """A named level or a number 0-10; a clear error otherwise."""
    if value is None:
        return None
    if value in PRIORITIES:
        return PRIORITIES[value]
    if value.isdigit() and 0 <= int(value) <= 10:
        return int(value)
    raise typer.BadParameter(f"{value!r}: use one of {', '.join(PRIORITIES)} or a number 0-10", param_hint="--priority")


def vars_of(pairs: list[str] | None, data: str | None) -> dict[str, Any]:
    """Template variables from --data (a JSON object) and --var NAME=VALUE pairs (which win)."""
    variables: dict[str, Any] = {}
    if data is not None:
        parsed = parse_data(data)
        if not isinstance(parsed, dict):
            raise typer.BadParameter("must be a JSON object of template variables", param_hint="--vars")
        variables |= parsed
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--var")
        variables[name] = value
    return variables


def _queue(ctx: typer.Context, type_name: str, data: dict[str, Any], priority: str | None) -> None:
    rt = runtime_of(ctx)
    job_id = enqueue(type_name, data, priority=priority_of(priority), runtime=rt)
    render.emit_json({"jobId": job_id, "status": "queued", "delivery": job_id})


@app.command()
def email(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The recipient's address.")],
    template: Annotated[str, typer.Option("--template", "-t", help="Template name (e.g. welcome, alert).")],
    var: VarOption = None,
    vars_json: Annotated[str | None, typer.Option("--vars", help="Variables as JSON, @file.json or @-.")] = None,
    priority: PriorityOption = None,
) -> None:
    """Queue one templated email (notify.email)."""
    _queue(ctx, "notify.email", {"to": to, "template": template, "vars": vars_of(var, vars_json)}, priority)


@app.command()
def digest(
    ctx: typer.Context,
    recipients: Annotated[str, typer.Option("--recipients", help='JSON list of {"to", "vars"}, @file.json or @-.')],
    template: Annotated[str, typer.Option("--template", "-t")] = "digest",
    var: VarOption = None,
    priority: PriorityOption = "weekly-digest",
) -> None:
    """Queue a personalised digest to many recipients (notify.digest, batches of 50)."""
    parsed = parse_data(recipients)
    if not isinstance(parsed, list):
        raise typer.BadParameter('must be a JSON list of {"to": ..., "vars": {...}}', param_hint="--recipients")
    _queue(ctx, "notify.digest", {"template": template, "vars": vars_of(var, None), "recipients": parsed}, priority)


@app.command()
def sms(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="E.164 number, e.g. +447700900123.")],
    message: Annotated[str, typer.Option("--message", "-m")],
    promotional: Annotated[bool, typer.Option("--promotional", help="Marketing, not transactional.")] = False,
    priority: PriorityOption = None,
) -> None:
    """Queue an SMS (notify.sms)."""
    kind = "promotional" if promotional else "transactional"
    _queue(ctx, "notify.sms", {"to": to, "message": message, "kind": kind}, priority)


@app.command()
def push(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title")],
    body: Annotated[str, typer.Option("--body")] = "",
    endpoint_arn: Annotated[str | None, typer.Option("--endpoint-arn")] = None,
    application_arn: Annotated[str | None, typer.Option("--application-arn", help="With --token.")] = None,
    token: Annotated[str | None, typer.Option("--token", help="The device token (FCM or APNs).")] = None,
    priority: PriorityOption = None,
) -> None:
    """Queue a push notification (notify.push)."""
    data: dict[str, Any] = {"title": title, "body": body}
    data |= {k: v for k, v in (("endpoint_arn", endpoint_arn), ("application_arn", application_arn)) if v}
    if token:
        data["token"] = token
    _queue(ctx, "notify.push", data, priority)


@app.command()
def discord(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="The Discord webhook URL.")],
    content: Annotated[str, typer.Option("--content", "-m")],
    mention: Annotated[
        list[str] | None, typer.Option("--mention", help="Allow pings: users, roles or everyone (repeatable).")
    ] = None,
    priority: PriorityOption = None,
) -> None:
    """Queue a Discord message (notify.discord); mentions ping nobody unless allowed."""
    _queue(ctx, "notify.discord", {"url": url, "content": content, "mentions": mention or []}, priority)


@app.command()
def deliveries(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="queued, sent, delivered, bounced or failed")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="email, sms, push, discord or webhook")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Delivery records, newest first."""
    store = delivery_store(runtime_of(ctx))
    rows = sorted(store.scan(status=status, channel=channel), key=lambda r: r.created_at, reverse=True)[:limit]  # type: ignore[arg-type]
    if as_json:
        render.emit_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("delivery", "channel", "to", "status", "reason", "updated")
    for r in rows:
        table.add_row(r.key, r.channel, r.to, r.status, (r.reason or "")[:60], render.when(r.updated_at))
    render.stdout.print(table)


@app.command()
def get(
    ctx: typer.Context,
    delivery: Annotated[str, typer.Argument(help="The delivery id (the job id; <job id>-<n> for a digest).")],
    as_json: JsonOption = False,
) -> None:
    """One delivery record: status, provider message id, reason and SES events."""
    record = delivery_store(runtime_of(ctx)).get(delivery)
    if record is None:
        fail(f"no delivery record {delivery!r}: the job has not run yet, or see `offload notify deliveries`")
    if as_json:
        render.emit_json(record.model_dump(mode="json"))
        return
    _print(record)


@app.command()
def enable(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="webhook, discord or push")],
    target: Annotated[str, typer.Argument(help="The webhook URL or endpoint ARN that was disabled.")],
) -> None:
    """Forget that an endpoint was disabled (after its receiver is fixed)."""
    if not delivery_store(runtime_of(ctx)).enable_endpoint(channel, target):  # type: ignore[arg-type]
        fail(f"{channel} endpoint {target} is not disabled")
    render.emit_json({"channel": channel, "enabled": True})


def _print(record: DeliveryRecord) -> None:
    out = render.stdout
    out.print(f"[bold]{record.key}[/]  {record.channel} to {record.to}  status: {record.status}")
    if record.provider_id:
        out.print(f"provider message id: {record.provider_id}")
    if record.reason:
        out.print(f"[red]{record.reason}[/]")
    for event in record.events:
        out.print(f"  {event.get('type')}: {json.dumps({k: v for k, v in event.items() if k != 'type'})}")
