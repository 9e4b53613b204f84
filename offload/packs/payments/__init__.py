"""The payments pack: creator payouts (exactly once per creator and period), refunds, subscription renewals
with dunning, and the monthly revenue report, on a ledger table. See docs/payments.md.

An app takes the defaults (`from offload.packs import payments`: the local provider, 80 % creator share, no
tax) or its own: `payments_pack(provider="stripe", stripe_secret_arn="arn:...", tax_rate_pct="8.25")`.
"""

from __future__ import annotations

from typing import Any

from offload.catalog import Backoff, JobType, Pack, QueueSpec, Schedule

_JOBS = "offload.packs.payments.jobs"

pack = Pack(
    "payments",
    description="Creator payouts exactly once per period, refunds, subscription renewals with dunning, "
    "and the monthly revenue report (seed 003).",
    queues=(
        # Money moves one job at a time per worker; two workers are plenty and keep provider calls gentle.
        QueueSpec(
            "payments", concurrency=2, batch_size=1, attempts=5, backoff=Backoff("exponential", 5.0), timeout_s=300
        ),
    ),
    job_types=(
        JobType(
            "payments.payout",
            queue="payments",
            processor=f"{_JOBS}:payout",
            description="Pay every creator's balance for an ISO week, exactly once per creator and week.",
        ),
        JobType("payments.refund", queue="payments", processor=f"{_JOBS}:refund", description="Refund a sale."),
        JobType(
            "payments.subscription_renewal",
            queue="payments",
            processor=f"{_JOBS}:subscription_renewal",
            description="Bill a subscription for a month; declines retry after the dunning days, then cancel.",
        ),
        JobType(
            "payments.revenue_report",
            queue="payments",
            processor=f"{_JOBS}:revenue_report",
            attempts=2,
            description="Gross, fees, tax, payouts and refunds of a month to reports/revenue/<month>.json.",
        ),
    ),
    schedules=(
        Schedule(
            "weekly-payouts",
            "0 10 ? * MON *",
            "payments.payout",
            description="Weekly, Monday 10:00 UTC: pay creators last week's balances",
        ),
        Schedule(
            "monthly-renewals",
            "0 6 1 * ? *",
            "payments.subscription_renewal",
            description="Monthly, on the 1st at 06:00 UTC: bill every subscription that is due",
        ),
        Schedule(
            "monthly-revenue-report",
            "0 9 1 * ? *",
            "payments.revenue_report",
            description="Monthly, on the 1st at 09:00 UTC: last month's revenue report",
        ),
    ),
    infra="offload.packs.payments.infra:PaymentsResources",
    cli="offload.packs.payments.cli:app",
)


def payments_pack(**options: Any) -> Pack:
    """The payments pack with options (offload.packs.payments.options.PaymentsOptions fields), validated now."""
    from offload.packs.payments.options import PaymentsOptions

    return pack.with_options(PaymentsOptions, options)
