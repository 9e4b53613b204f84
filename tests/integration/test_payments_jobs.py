"""The payments pack's other jobs on moto through the real worker: refunds, renewals with dunning, the
monthly revenue report, with the ledger's Decimal split and tax."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from offload.packs.payments.billing import add_subscription, record_sale, subscription_pk
from offload.packs.payments.ledger import creator_pk
from offload.packs.payments.local_provider import LocalPaymentProvider
from offload.packs.payments.options import PaymentsOptions
from offload.packs.payments.settings import ledger_of
from offload.testing.worker import run_job
from tests.support.payments import with_packs

TAXED = {"creator_share_pct": "70", "tax_rate_pct": "8.25"}


@pytest.fixture
def rt(runtime):
    return with_packs(runtime, payments=TAXED)


@pytest.fixture
def ledger(rt):
    return ledger_of(rt)


def local(ledger) -> LocalPaymentProvider:
    return LocalPaymentProvider(ledger.db, ledger.table)


def test_a_sale_credits_the_creator_share_and_records_fee_and_tax(ledger):
    ledger.add_creator("c1", account="acct_1", currency="usd")
    assert record_sale(ledger, PaymentsOptions.model_validate(TAXED), creator_id="c1", sale_id="s1", price_minor=1999)
    assert not record_sale(
        ledger, PaymentsOptions.model_validate(TAXED), creator_id="c1", sale_id="s1", price_minor=1999
    )
    sale = ledger.get(creator_pk("c1"), "entry#sale:s1")
    # 70 % of 19.99 = 13.993 -> 13.99; fee 6.00; tax 8.25 % of 19.99 = 1.649175 -> 1.65
    assert (sale["amount_minor"], sale["fee_minor"], sale["tax_minor"], sale["gross_minor"]) == (1399, 600, 165, 2164)
    assert ledger.creator("c1")["balance_minor"] == 1399, "the same sale id twice is one sale"


def test_a_refund_pays_the_buyer_back_once_and_takes_the_creator_share_back(rt, ledger):
    ledger.add_creator("c1", account="acct_1", currency="usd")
    record_sale(ledger, PaymentsOptions.model_validate(TAXED), creator_id="c1", sale_id="s1", price_minor=1999)
    # A crash after the provider refunded and before the ledger write: the provider already has the refund.
    local(ledger).refund(payment_ref="pi_local_s1", amount_minor=2164, idempotency_key="refund:s1")
    job = run_job(rt, "payments.refund", {"creator_id": "c1", "sale_id": "s1"})
    assert job.status.value == "completed", job.error
    assert job.result["status"] == "refunded" and job.result["creator_debit_minor"] == 1399
    again = run_job(rt, "payments.refund", {"creator_id": "c1", "sale_id": "s1"})
    assert again.result["status"] == "already_refunded"
    assert len(local(ledger).objects("refund")) == 1
    assert ledger.creator("c1")["balance_minor"] == 0


def test_a_partial_refund_takes_back_the_matching_share_rounded_half_even(rt, ledger):
    ledger.add_creator("c1", account="acct_1", currency="usd")
    record_sale(ledger, PaymentsOptions.model_validate(TAXED), creator_id="c1", sale_id="s1", price_minor=1000)
    job = run_job(rt, "payments.refund", {"creator_id": "c1", "sale_id": "s1", "amount_minor": 541})
    # gross 10.83; half of it refunded (5.41 of 10.83) takes back 700 * 541 / 1083 = 349.67 -> 350
    assert job.result["creator_debit_minor"] == 350 and ledger.creator("c1")["balance_minor"] == 350


def test_refunding_an_unknown_sale_fails_naming_it(rt, ledger):
    ledger.add_creator("c1", account="acct_1", currency="usd")
    job = run_job(rt, "payments.refund", {"creator_id": "c1", "sale_id": "nope"})
    assert job.status.value == "failed" and "no sale 'nope' for creator 'c1'" in job.error.reason


def test_a_renewal_charges_price_plus_tax_once_per_month(rt, ledger):
    add_subscription(ledger, subscription_id="sub1", customer="cus_1", payment_method="pm_card_visa", price_minor=999)
    job = run_job(rt, "payments.subscription_renewal", {"subscription_id": "sub1", "period": "2026-12"})
    assert job.result["status"] == "renewed", job.result
    again = run_job(rt, "payments.subscription_renewal", {"subscription_id": "sub1", "period": "2026-12"})
    assert again.result["status"] == "already_renewed"
    [charge] = local(ledger).objects("charge")
    assert charge["amount_minor"] == 999 + 82  # 8.25 % of 9.99 = 0.824175 -> 0.82
    sub = ledger.get(subscription_pk("sub1"), "subscription")
    assert (sub["status"], sub["paid_through"]) == ("active", "2026-12")


def test_a_declined_renewal_schedules_dunning_retries_then_cancels(rt, ledger):
    add_subscription(
        ledger, subscription_id="sub2", customer="cus_2", payment_method="pm_card_chargeDeclined", price_minor=500
    )
    before = datetime.now(UTC)
    first = run_job(rt, "payments.subscription_renewal", {"subscription_id": "sub2", "period": "2026-12"})
    assert (first.result["status"], first.result["retry_in_days"]) == ("past_due", 1)
    retry = rt.store.get(first.result["retry_job_id"])
    assert retry is not None and retry.status.value == "delayed"
    due = datetime.fromisoformat(retry.run_at)
    assert timedelta(hours=23) < due - before < timedelta(hours=25), "the first dunning retry is a day later"
    # the same attempt re-run (a retry after a crash) queues the same retry job, not a second one
    rerun = run_job(rt, "payments.subscription_renewal", {"subscription_id": "sub2", "period": "2026-12"})
    assert rerun.result["retry_job_id"] == first.result["retry_job_id"]

    statuses = []
    for attempt in (1, 2, 3):
        job = run_job(
            rt, "payments.subscription_renewal", {"subscription_id": "sub2", "period": "2026-12", "attempt": attempt}
        )
        statuses.append((job.result["status"], job.result.get("retry_in_days")))
    assert statuses == [("past_due", 3), ("past_due", 7), ("cancelled", None)]
    assert ledger.get(subscription_pk("sub2"), "subscription")["status"] == "cancelled"
    assert local(ledger).objects("charge") == []


def test_the_monthly_sweep_queues_one_renewal_per_due_subscription(rt, ledger):
    for n in (1, 2):
        add_subscription(
            ledger, subscription_id=f"s{n}", customer=f"c{n}", payment_method="pm_card_visa", price_minor=100
        )
    job = run_job(rt, "payments.subscription_renewal", {"period": "2027-01"})
    assert (job.result["period"], job.result["queued"]) == ("2027-01", 2)
    again = run_job(rt, "payments.subscription_renewal", {"period": "2027-01"})
    assert set(again.result["jobs"]) <= set(job.result["jobs"]), "the idempotency keys queued nothing new"


def test_the_revenue_report_sums_the_month_into_json_and_text(rt, ledger):
    options = PaymentsOptions.model_validate(TAXED)
    ledger.add_creator("c1", account="acct_1", currency="usd")
    record_sale(ledger, options, creator_id="c1", sale_id="a", price_minor=1000, at="2026-11-03T10:00:00+00:00")
    record_sale(ledger, options, creator_id="c1", sale_id="b", price_minor=2000, at="2026-11-20T10:00:00+00:00")
    record_sale(ledger, options, creator_id="c1", sale_id="dec", price_minor=5000, at="2026-12-01T00:00:01+00:00")
    job = run_job(rt, "payments.revenue_report", {"month": "2026-11"})
    assert job.status.value == "completed", job.error
    body = rt.clients.s3.get_object(Bucket=rt.settings.payload_bucket, Key="reports/revenue/2026-11.json")["Body"]
    report = json.loads(body.read())
    # prices 10.00 + 20.00; tax 0.83 (0.825 -> 0.82 half-even) + 1.65; creators 7.00 + 14.00; fees 3.00 + 6.00
    assert report["amounts"] == {
        "gross": "32.47",
        "price": "30.00",
        "tax": "2.47",
        "fees": "9.00",
        "creator_share": "21.00",
        "subscriptions": "0.00",
        "refunds": "0.00",
        "payouts": "0.00",
    }
    assert report["minor"]["sales_count"] == 2, "December's sale is not November's"
    text = rt.clients.s3.get_object(Bucket=rt.settings.payload_bucket, Key="reports/revenue/2026-11.txt")["Body"].read()
    assert b"Revenue 2026-11 (USD)" in text and b"32.47" in text
