"""The payments and social packs on the local cloud, driven from the CLI and their schedules: the weekly payout
fired twice still pays each creator once; trending, a post's fan-out and the revenue report from the CLI."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from offload.packs.payments.periods import previous_week


def _completed(local, queue: str, type_name: str) -> list[dict]:
    rows = json.loads(local.cli("jobs", "list", "--queue", queue, "--status", "completed", "--json").stdout)
    return [r for r in rows if r["type"] == type_name]


def _wait_for(local, queue: str, type_name: str, count: int, timeout_s: float = 60) -> list[dict]:
    deadline = time.time() + timeout_s
    while len(done := _completed(local, queue, type_name)) < count:
        assert time.time() < deadline, f"only {len(done)} completed {type_name} job(s) after {timeout_s}s"
        time.sleep(0.5)
    return done


def test_weekly_payouts_fired_twice_pay_each_creator_once(local):
    local.cli("payments", "seed", "--creators", "3", "--sales", "2", "--price", "10.00")
    local.cli("local", "trigger", "weekly-payouts", "--endpoint-url", local.endpoint)
    local.cli("local", "trigger", "weekly-payouts", "--endpoint-url", local.endpoint)
    _wait_for(local, "payments", "payments.payout", 2)

    transfers = json.loads(local.cli("payments", "transfers", "--json").stdout)
    period = previous_week()
    assert sorted(t["idempotency_key"] for t in transfers) == [f"payout:creator-{n}:{period}" for n in (1, 2, 3)]
    assert {t["amount_minor"] for t in transfers} == {1600}, "80 % of two 10.00 sales"
    balances = json.loads(local.cli("payments", "balances", "--json").stdout)
    assert [b["balance_minor"] for b in balances] == [0, 0, 0]


def test_the_revenue_report_lands_in_the_payload_bucket(local):
    local.cli("payments", "seed", "--creators", "1", "--sales", "0")
    local.cli("payments", "sale", "creator-1", "5.00")  # dated now, so in this month's report
    month = datetime.now(UTC).strftime("%Y-%m")
    done = local.cli("jobs", "add", "payments.revenue_report", "-d", json.dumps({"month": month}))
    job_id = json.loads(done.stdout)["jobId"]
    job = json.loads(local.cli("jobs", "get", job_id, "--watch", "--json").stdout)
    assert job["status"] == "completed", job
    assert job["result"]["key"] == f"reports/revenue/{month}.json"
    assert job["result"]["totals"]["sales_count"] >= 1 and job["result"]["totals"]["price"] >= 500


def test_trending_and_a_post_fan_out_from_the_cli(local):
    local.cli("social", "seed", "--authors", "3", "--followers", "30", "--events", "120")
    local.cli("local", "trigger", "weekly-trending", "--endpoint-url", local.endpoint)
    _wait_for(local, "default", "social.trending", 1)
    latest = json.loads(local.cli("social", "trending", "--json").stdout)
    assert latest["events"] == 120 and {i["content_id"] for i in latest["items"]} <= {"post-1", "post-2", "post-3"}

    posted = json.loads(local.cli("social", "post", "post-9", "author-2", "fresh news").stdout)
    job = json.loads(local.cli("jobs", "get", posted["jobId"], "--watch", "--json").stdout)
    assert job["status"] == "completed" and job["result"]["written"] == 30, job
    feed = json.loads(local.cli("social", "feed", "user-7", "--json").stdout)
    assert feed[0]["post_id"] == "post-9"


def test_renewals_refunds_and_the_monthly_report_from_their_schedules_and_the_cli(local):
    local.cli("payments", "subscribe", "sub-ok", "cus_ok", "--price", "9.99")
    local.cli("payments", "subscribe", "sub-no", "cus_no", "--payment-method", "pm_card_chargeDeclined")
    local.cli("local", "trigger", "monthly-renewals", "--endpoint-url", local.endpoint)
    renewals = _wait_for(local, "payments", "payments.subscription_renewal", 3)  # the sweep and one per subscription
    statuses = {r["result"].get("subscription_id"): r["result"].get("status") for r in renewals}
    assert statuses.get("sub-ok") == "renewed" and statuses.get("sub-no") == "past_due", statuses

    local.cli("payments", "seed", "--creators", "1", "--sales", "1")
    refund = json.loads(local.cli("payments", "refund", "creator-1", "creator-1-sale-1", "--wait").stdout)
    assert refund["status"] == "completed" and refund["result"]["status"] in ("refunded", "already_refunded"), refund

    local.cli("local", "trigger", "monthly-revenue-report", "--endpoint-url", local.endpoint)
    _wait_for(local, "payments", "payments.revenue_report", 2)
