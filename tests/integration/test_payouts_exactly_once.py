"""Payouts are exactly once per (creator, period): a crash after each step, duplicate deliveries of one job,
several jobs for one period and concurrent runs all end with one transfer per creator at the provider and the
balance debited once. Both providers: the local one and Stripe (the real SDK against a loopback fake)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from offload.jobs.worker import Worker
from offload.local.sqs_events import deliver_once, queue_arn
from offload.packs.payments.billing import record_sale
from offload.packs.payments.ledger import Ledger, creator_pk
from offload.packs.payments.local_provider import LocalPaymentProvider
from offload.packs.payments.options import PaymentsOptions
from offload.packs.payments.payouts import STEPS, Payouts, payout_key
from offload.packs.payments.settings import ledger_of
from offload.packs.payments.stripe_provider import StripePaymentProvider, make_client
from offload.testing.stripe_server import FakeStripeServer
from offload.testing.worker import run_job
from tests.support.payments import isolate_moto_transactions, with_packs

PERIOD = "2026-W48"
OPTIONS = PaymentsOptions()


class Crash(Exception):
    """The process died here (raised from the step hook)."""


@pytest.fixture
def rt(runtime):
    return with_packs(runtime, payments={})


@pytest.fixture
def ledger(rt) -> Ledger:
    return ledger_of(rt)


@pytest.fixture
def stripe_api() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as server:
        yield server


def seed(ledger: Ledger, creators: int = 2, sales: int = 3, price_minor: int = 1250) -> None:
    for c in range(1, creators + 1):
        ledger.add_creator(f"creator-{c}", account=f"acct_{c}", currency="usd")
        for n in range(sales):
            record_sale(ledger, OPTIONS, creator_id=f"creator-{c}", sale_id=f"c{c}-s{n}", price_minor=price_minor)


class Provider:
    """The provider under test and how to count the transfers it really made."""

    def __init__(self, kind: str, ledger: Ledger, stripe_api: FakeStripeServer) -> None:
        self.kind = kind
        if kind == "local":
            self.port: Any = LocalPaymentProvider(ledger.db, ledger.table)
        else:
            self.port = StripePaymentProvider(make_client("sk_test_fake", stripe_api.base_url))
        self._local = LocalPaymentProvider(ledger.db, ledger.table)
        self._stripe = stripe_api

    def transfers(self) -> list[dict[str, Any]]:
        return self._local.objects("transfer") if self.kind == "local" else list(self._stripe.created["transfer"])


@pytest.fixture(params=["local", "stripe"])
def provider(request, ledger, stripe_api) -> Provider:
    return Provider(request.param, ledger, stripe_api)


def crash_at(step: str):
    def hook(done: str) -> None:
        if done == step:
            raise Crash(f"crashed after {step}")

    return hook


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_after_any_step_then_the_retry_pays_exactly_once(ledger, provider, step):
    seed(ledger, creators=1)
    balance = ledger.creator("creator-1")["balance_minor"]
    assert balance == 3 * 1000, "80 % of three 12.50 sales"
    crashing = Payouts(ledger, provider.port, min_payout_minor=100, after_step=crash_at(step))
    with pytest.raises(Crash):
        crashing.pay("creator-1", PERIOD)
    retry = Payouts(ledger, provider.port, min_payout_minor=100).pay("creator-1", PERIOD)

    expected_status = "already_paid" if step == "ledger" else "paid"
    assert retry.status == expected_status and retry.amount_minor == balance
    transfers = provider.transfers()
    assert len(transfers) == 1, f"one transfer at the provider, got {transfers}"
    sent = transfers[0]["amount"] if provider.kind == "stripe" else transfers[0]["amount_minor"]
    assert sent == balance
    assert retry.transfer_id == transfers[0]["id"]
    assert ledger.creator("creator-1")["balance_minor"] == 0
    payouts = [e for e in ledger.entries("creator-1") if e["kind"] == "payout"]
    assert [(p["ref"], p["amount_minor"]) for p in payouts] == [(f"payout:{PERIOD}", -balance)]


def test_the_intent_freezes_the_amount_so_a_sale_between_crash_and_retry_waits_for_the_next_period(ledger, provider):
    seed(ledger, creators=1)
    with pytest.raises(Crash):
        Payouts(ledger, provider.port, min_payout_minor=100, after_step=crash_at("intent")).pay("creator-1", PERIOD)
    record_sale(ledger, OPTIONS, creator_id="creator-1", sale_id="late", price_minor=500)
    outcome = Payouts(ledger, provider.port, min_payout_minor=100).pay("creator-1", PERIOD)
    assert outcome.amount_minor == 3000
    assert ledger.creator("creator-1")["balance_minor"] == 400, "the late sale's 4.00 stays for next week"


def test_concurrent_runs_for_one_period_make_one_transfer_per_creator(ledger, provider, monkeypatch):
    isolate_moto_transactions(monkeypatch)
    seed(ledger, creators=2)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            for creator in ("creator-1", "creator-2"):
                outcomes.append(Payouts(ledger, provider.port, min_payout_minor=100).pay(creator, PERIOD).status)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert outcomes.count("paid") == 2 and outcomes.count("already_paid") == 6
    transfers = provider.transfers()
    keys = sorted(t["transfer_group"] if provider.kind == "stripe" else t["idempotency_key"] for t in transfers)
    assert keys == [payout_key("creator-1", PERIOD), payout_key("creator-2", PERIOD)]
    assert [c["balance_minor"] for c in ledger.creators()] == [0, 0]


def test_stripe_forgetting_the_key_still_finds_the_transfer_by_its_group(ledger, stripe_api):
    seed(ledger, creators=1)
    port = StripePaymentProvider(make_client("sk_test_fake", stripe_api.base_url))
    with pytest.raises(Crash):
        Payouts(ledger, port, min_payout_minor=100, after_step=crash_at("transfer")).pay("creator-1", PERIOD)
    stripe_api.forget_keys()  # the retry comes more than 24 h later
    outcome = Payouts(ledger, port, min_payout_minor=100).pay("creator-1", PERIOD)
    assert outcome.status == "paid" and len(stripe_api.created["transfer"]) == 1
    creates = [r for r in stripe_api.requests if r.method == "POST"]
    assert len(creates) == 1, "the retry found the transfer and did not ask to create another"


def test_a_balance_below_the_minimum_is_not_paid(ledger, provider):
    ledger.add_creator("small", account="acct_s", currency="usd")
    record_sale(ledger, OPTIONS, creator_id="small", sale_id="tiny", price_minor=100)  # 0.80 to the creator
    outcome = Payouts(ledger, provider.port, min_payout_minor=100).pay("small", PERIOD)
    assert outcome.status == "below_minimum" and provider.transfers() == []
    assert ledger.get(creator_pk("small"), f"payout#{PERIOD}") is None


# -- through the real worker: duplicate deliveries and the schedule firing twice ----------------------


def _deliver_concurrently(rt, copies: int) -> None:
    """Copy each waiting payments message `copies` times, then let `copies` workers take them at once."""
    sqs = rt.clients.sqs
    url = rt.settings.queue_urls("payments").url
    bodies = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in msgs:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    for body in bodies:
        for _ in range(copies):
            sqs.send_message(QueueUrl=url, MessageBody=body)
    arn = queue_arn(sqs, url)
    barrier = threading.Barrier(copies)

    def work() -> None:
        worker = Worker(rt, "payments")
        barrier.wait()
        for _ in range(20):
            if deliver_once(sqs, url, worker.handle_batch, arn=arn, batch_size=1)[0] == 0:
                break

    threads = [threading.Thread(target=work) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)


def test_duplicate_deliveries_and_a_second_job_for_the_period_pay_once(rt, ledger, monkeypatch):
    from offload.jobs.enqueue import enqueue

    isolate_moto_transactions(monkeypatch)
    seed(ledger, creators=3)
    first = enqueue("payments.payout", {"period": PERIOD}, runtime=rt)
    second = enqueue("payments.payout", {"period": PERIOD}, runtime=rt)  # the schedule fired twice
    _deliver_concurrently(rt, copies=3)

    jobs = [rt.store.get(first), rt.store.get(second)]
    assert [j.status.value for j in jobs if j] == ["completed", "completed"]
    transfers = LocalPaymentProvider(ledger.db, ledger.table).objects("transfer")
    assert sorted(t["idempotency_key"] for t in transfers) == [payout_key(f"creator-{c}", PERIOD) for c in (1, 2, 3)]
    assert [c["balance_minor"] for c in ledger.creators()] == [0, 0, 0]
    results = [json.loads(json.dumps(j.result)) for j in jobs if j]
    assert sum(r["paid"] for r in results) == 3, "between them the two jobs paid each creator once"
    assert sum(r["already_paid"] for r in results) == 3, "and found the other three payouts made"


def test_the_payout_job_reports_what_it_paid(rt, ledger):
    seed(ledger, creators=2, sales=2)
    job = run_job(rt, "payments.payout", {"period": PERIOD})
    assert job.status.value == "completed", job.error
    assert job.result["paid"] == 2 and job.result["paid_minor"] == 2 * 2000
    again = run_job(rt, "payments.payout", {"period": PERIOD})
    assert again.result["paid"] == 0 and again.result["already_paid"] == 2


def test_a_bad_period_is_refused_at_enqueue_with_the_shape_to_use(rt):
    from offload.jobs.enqueue import enqueue
    from offload.jobs.registry import PayloadError

    with pytest.raises(PayloadError, match=r"data.period: .*'last week' is not an ISO week: give it like 2026-W48"):
        enqueue("payments.payout", {"period": "last week"}, runtime=rt)
