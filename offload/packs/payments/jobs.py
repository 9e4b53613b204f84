"""The payments pack's processors: payouts, refunds, subscription renewals and the revenue report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from offload.errors import RetryableError
from offload.jobs.context import JobContext
from offload.observability import logger
from offload.packs.payments.periods import check_month, check_week, previous_month, previous_week


class PayoutData(BaseModel):
    period: str | None = Field(default=None, description="ISO week to pay, e.g. 2026-W48 (default: last week)")
    creators: list[str] | None = Field(default=None, description="only these creators (default: every creator)")

    @field_validator("period")
    @classmethod
    def _week(cls, v: str | None) -> str | None:
        return None if v is None else check_week(v)


def payout(data: PayoutData, ctx: JobContext) -> dict[str, Any]:
    """Pay every creator's balance for the period, exactly once each (see payouts.py)."""
    from offload.packs.payments.payouts import Payouts
    from offload.packs.payments.settings import ledger_of, payments_settings, provider_of

    rt = ctx.runtime
    period = data.period or previous_week()
    ledger = ledger_of(rt)
    payouts = Payouts(ledger, provider_of(rt), min_payout_minor=payments_settings(rt).chosen.min_payout_minor)
    creators = data.creators or [c["creator_id"] for c in ledger.creators()]
    outcomes: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    for n, creator_id in enumerate(creators, start=1):
        try:
            outcomes.append(payouts.pay(creator_id, period, job_id=ctx.job_id).as_dict())
        except RetryableError as exc:  # the others still get paid; the retry finds them paid
            failed[creator_id] = str(exc)
            logger.warning("payout will be retried", creator_id=creator_id, period=period, reason=str(exc))
        ctx.update_progress(round(100 * n / len(creators)))
    if failed:
        raise RetryableError(f"payouts for {period}: {len(failed)} creator(s) to retry: {failed}")
    paid = [o for o in outcomes if o["status"] == "paid"]
    return {
        "period": period,
        "paid": len(paid),
        "paid_minor": sum(o["amount_minor"] for o in paid),
        "already_paid": sum(o["status"] == "already_paid" for o in outcomes),
        "below_minimum": sum(o["status"] == "below_minimum" for o in outcomes),
        "payouts": outcomes,
    }


class RefundData(BaseModel):
    creator_id: str = Field(min_length=1)
    sale_id: str = Field(min_length=1)
    amount_minor: int | None = Field(default=None, ge=1, description="default: the sale's whole gross")


def refund(data: RefundData, ctx: JobContext) -> dict[str, Any]:
    """Refund a sale through the provider and take the creator's share back, exactly once."""
    from offload.packs.payments.billing import refund_sale
    from offload.packs.payments.settings import ledger_of, provider_of

    outcome = refund_sale(
        ledger_of(ctx.runtime),
        provider_of(ctx.runtime),
        creator_id=data.creator_id,
        sale_id=data.sale_id,
        amount_minor=data.amount_minor,
    )
    return dict(outcome.__dict__)


class RenewalData(BaseModel):
    subscription_id: str | None = Field(default=None, description="one subscription; none: every one that is due")
    period: str | None = Field(default=None, description="the month to bill, e.g. 2026-12 (default: this month)")
    attempt: int = Field(default=0, ge=0, description="0 for the renewal, n for the n-th dunning retry")

    @field_validator("period")
    @classmethod
    def _month(cls, v: str | None) -> str | None:
        return None if v is None else check_month(v)


def subscription_renewal(data: RenewalData, ctx: JobContext) -> dict[str, Any]:
    """Bill one subscription for the month (a decline schedules the next dunning attempt), or, without a
    subscription id, queue one renewal job per subscription that is due."""
    from offload.jobs.enqueue import enqueue
    from offload.packs.payments.billing import renew
    from offload.packs.payments.settings import ledger_of, payments_settings, provider_of

    rt = ctx.runtime
    period = data.period or datetime.now(UTC).strftime("%Y-%m")
    ledger = ledger_of(rt)
    if data.subscription_id is None:
        due = [s for s in ledger.scan("subscription") if s["status"] != "cancelled" and s["paid_through"] < period]
        jobs = [
            enqueue(
                "payments.subscription_renewal",
                {"subscription_id": sub["subscription_id"], "period": period},
                idempotency_key=f"renewal:{sub['subscription_id']}:{period}:0",
                runtime=rt,
            )
            for sub in due
        ]
        return {"period": period, "queued": len(jobs), "jobs": jobs}
    options = payments_settings(rt).chosen
    outcome = renew(
        ledger, provider_of(rt), options, subscription_id=data.subscription_id, period=period, attempt=data.attempt
    )
    result = {"period": period, "subscription_id": data.subscription_id, **outcome.as_dict()}
    if outcome.status == "past_due" and outcome.retry_in_days is not None:
        # The platform's long delays (up to a year) carry the retry; the key makes a re-run queue it once.
        result["retry_job_id"] = enqueue(
            "payments.subscription_renewal",
            {"subscription_id": data.subscription_id, "period": period, "attempt": outcome.next_attempt},
            delay=timedelta(days=outcome.retry_in_days),
            idempotency_key=f"renewal:{data.subscription_id}:{period}:{outcome.next_attempt}",
            runtime=rt,
        )
    return result


class RevenueReportData(BaseModel):
    month: str | None = Field(default=None, description="e.g. 2026-11 (default: last month)")

    @field_validator("month")
    @classmethod
    def _month(cls, v: str | None) -> str | None:
        return None if v is None else check_month(v)


def revenue_report(data: RevenueReportData, ctx: JobContext) -> dict[str, Any]:
    """Write the month's revenue report (JSON + text) to reports/revenue/ in the payload bucket."""
    from offload.packs.payments.report import write_report
    from offload.packs.payments.settings import ledger_of, payments_settings

    rt = ctx.runtime
    month = data.month or previous_month()
    return write_report(
        ledger_of(rt), rt.clients.s3, rt.settings.payload_bucket, month, payments_settings(rt).chosen.currency
    )
