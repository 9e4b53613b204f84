"""`offload payments ...`: seed a ledger, record sales, run a payout, show balances, payouts and transfers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from offload.cli import render
from offload.cli.errors import fail, stderr
from offload.cli.jobs import JsonOption
from offload.cli.resources import runtime_of
from offload.cli.watch import watch_job
from offload.jobs.enqueue import enqueue
from offload.packs.payments.billing import add_subscription, record_sale
from offload.packs.payments.ledger import creator_pk
from offload.packs.payments.money import to_major, to_minor
from offload.packs.payments.periods import check_week
from offload.packs.payments.settings import ledger_of, payments_settings, provider_of

app = typer.Typer(name="payments", help="Payments: ledger, payouts, refunds, subscriptions.", no_args_is_help=True)
WaitOption = Annotated[bool, typer.Option("--wait", "-w", help="Follow the job until it finishes.")]


def _queue(ctx: typer.Context, type_name: str, data: dict, *, wait: bool) -> None:
    """Queue a job; with --wait follow it (progress on stderr) and print its summary, exit 1 unless it completes."""
    rt = runtime_of(ctx)
    job_id = enqueue(type_name, data, runtime=rt)
    if not wait:
        render.emit_json({"jobId": job_id, "status": "queued"})
        return
    job = watch_job(rt, job_id, interval_s=0.5, timeout_s=120, console=stderr)
    render.emit_json(job.summary())
    if job.status.value != "completed":
        raise typer.Exit(1)


@app.command()
def seed(
    ctx: typer.Context,
    creators: Annotated[int, typer.Option(min=1, max=1000, help="How many creators (creator-1 ...).")] = 3,
    sales: Annotated[int, typer.Option(min=0, max=1000, help="Sales per creator.")] = 4,
    price: Annotated[str, typer.Option(help="Each sale's price, in major units.")] = "12.50",
    days_ago: Annotated[int, typer.Option(min=0, help="Date the sales this many days back.")] = 7,
) -> None:
    """Creators with local connected accounts and some sales (again: the same rows, nothing doubled)."""
    rt = runtime_of(ctx)
    ledger = ledger_of(rt)
    options = payments_settings(rt).chosen
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    added = 0
    for c in range(1, creators + 1):
        creator_id = f"creator-{c}"
        ledger.add_creator(creator_id, account=f"acct_local_{c}", currency=options.currency)
        for n in range(1, sales + 1):
            added += record_sale(
                ledger,
                options,
                creator_id=creator_id,
                sale_id=f"{creator_id}-sale-{n}",
                price_minor=to_minor(price),
                at=at,
            )
    render.stdout.print(f"{creators} creator(s), {added} new sale(s) recorded")
    _balances(ctx, as_json=False)


@app.command()
def sale(
    ctx: typer.Context,
    creator_id: Annotated[str, typer.Argument(help="The creator, e.g. creator-1")],
    price: Annotated[str, typer.Argument(help="The price in major units, e.g. 9.99")],
    sale_id: Annotated[str, typer.Option(help="The sale's id (the same id twice is one sale).")] = "",
) -> None:
    """Record one sale: the creator's share goes on their balance."""
    rt = runtime_of(ctx)
    sid = sale_id or f"{creator_id}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    try:
        new = record_sale(
            ledger_of(rt), payments_settings(rt).chosen, creator_id=creator_id, sale_id=sid, price_minor=to_minor(price)
        )
    except ValueError as exc:
        fail(str(exc))
    render.emit_json({"sale_id": sid, "recorded": new})


@app.command()
def payout(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W48 (default: last week).")] = None,
    wait: WaitOption = False,
) -> None:
    """Queue a payments.payout job (what the weekly-payouts schedule does)."""
    if period is not None:
        try:
            check_week(period)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    _queue(ctx, "payments.payout", {"period": period} if period else {}, wait=wait)


@app.command()
def refund(
    ctx: typer.Context,
    creator_id: Annotated[str, typer.Argument()],
    sale_id: Annotated[str, typer.Argument()],
    amount: Annotated[str | None, typer.Option(help="Major units (default: the whole sale).")] = None,
    wait: WaitOption = False,
) -> None:
    """Queue a payments.refund job for one sale."""
    data: dict = {"creator_id": creator_id, "sale_id": sale_id}
    if amount is not None:
        data["amount_minor"] = to_minor(amount)
    _queue(ctx, "payments.refund", data, wait=wait)


@app.command()
def subscribe(
    ctx: typer.Context,
    subscription_id: Annotated[str, typer.Argument()],
    customer: Annotated[str, typer.Argument()],
    price: Annotated[str, typer.Option(help="Monthly price in major units.")] = "9.99",
    payment_method: Annotated[
        str, typer.Option(help="pm_card_visa succeeds; pm_card_chargeDeclined is declined (local provider).")
    ] = "pm_card_visa",
) -> None:
    """Add a monthly subscription (billed by payments.subscription_renewal)."""
    new = add_subscription(
        ledger_of(runtime_of(ctx)),
        subscription_id=subscription_id,
        customer=customer,
        payment_method=payment_method,
        price_minor=to_minor(price),
    )
    render.emit_json({"subscription_id": subscription_id, "added": new})


def _balances(ctx: typer.Context, *, as_json: bool) -> None:
    rows = ledger_of(runtime_of(ctx)).creators()
    if as_json:
        render.emit_json(rows)
        return
    table = Table("creator", "account", "balance", "currency")
    for r in rows:
        table.add_row(r["creator_id"], r["account"], str(to_major(r["balance_minor"])), r["currency"])
    render.stdout.print(table)


@app.command()
def balances(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every creator's balance."""
    _balances(ctx, as_json=as_json)


@app.command()
def show(ctx: typer.Context, creator_id: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """A creator's balance, ledger entries and payouts."""
    ledger = ledger_of(runtime_of(ctx))
    creator = ledger.get(creator_pk(creator_id), "balance")
    if creator is None:
        fail(f"no creator {creator_id!r}: `offload payments balances` lists them")
    entries = ledger.entries(creator_id)
    payouts = ledger.query(creator_pk(creator_id), "payout#")
    if as_json:
        render.emit_json({"creator": creator, "entries": entries, "payouts": payouts})
        return
    render.stdout.print(f"[bold]{creator_id}[/]  balance {to_major(creator['balance_minor'])} {creator['currency']}")
    table = Table("at", "ref", "kind", "amount")
    for e in entries:
        table.add_row(e["at"][:19], e["ref"], e["kind"], str(to_major(e["amount_minor"])))
    render.stdout.print(table)
    for p in payouts:
        render.stdout.print(
            f"payout {p['period']}: {p['state']} {to_major(p['amount_minor'])} {p.get('transfer_id') or ''}"
        )


@app.command()
def transfers(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The transfers the local provider has recorded (one per payout key)."""
    provider = provider_of(runtime_of(ctx))
    objects = getattr(provider, "objects", None)
    if objects is None:
        fail("the stripe provider keeps its transfers at Stripe: see the Stripe dashboard (Connect > Transfers)")
    rows = objects("transfer")
    if as_json:
        render.emit_json(rows)
        return
    table = Table("transfer", "destination", "amount", "idempotency key", "created")
    for r in rows:
        table.add_row(
            r["id"], r["destination"], str(to_major(r["amount_minor"])), r["idempotency_key"], r["created_at"][:19]
        )
    render.stdout.print(table)
