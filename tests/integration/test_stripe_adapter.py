"""The Stripe adapter through the real `stripe` SDK against a loopback fake of Stripe's API: what it sends,
Idempotency-Key replays, and how Stripe's error shapes map onto job outcomes."""

from __future__ import annotations

import json

import boto3
import pytest

from offload.errors import NonRetryableError, RetryableError
from offload.packs.payments.provider import IdempotencyConflict, PaymentDeclined, ProviderUnavailable
from offload.packs.payments.settings import provider_of
from offload.packs.payments.stripe_provider import StripePaymentProvider, make_client
from offload.testing.stripe_server import FakeStripeServer, api_error, card_declined, rate_limited, stripe_error
from tests.support.payments import with_packs


@pytest.fixture
def stripe_api():
    with FakeStripeServer() as server:
        yield server


@pytest.fixture
def stripe(stripe_api) -> StripePaymentProvider:
    return StripePaymentProvider(make_client("sk_test_fake", stripe_api.base_url))


def _transfer(stripe: StripePaymentProvider, key: str = "payout:c1:2026-W48", amount: int = 3000):
    return stripe.transfer(
        destination="acct_1", amount_minor=amount, currency="usd", idempotency_key=key, description="d"
    )


def test_a_transfer_sends_the_amount_destination_group_and_idempotency_key(stripe, stripe_api):
    made = _transfer(stripe)
    post = next(r for r in stripe_api.requests if r.method == "POST")
    assert post.path == "/v1/transfers" and post.headers["idempotency-key"] == "payout:c1:2026-W48"
    assert post.headers["authorization"] == "Bearer sk_test_fake"
    assert "amount=3000" in post.body and "destination=acct_1" in post.body
    assert "transfer_group=payout%3Ac1%3A2026-W48" in post.body
    assert (made.amount_minor, made.destination, made.id) == (3000, "acct_1", stripe_api.created["transfer"][0]["id"])


def test_a_repeated_key_gets_the_first_transfer_back_and_moves_no_more_money(stripe, stripe_api):
    stripe_api.script(rate_limited())  # the first try is turned away before Stripe does anything
    with pytest.raises(ProviderUnavailable):
        _transfer(stripe)
    first = _transfer(stripe)
    # the listing finds it now; a client that skipped the listing would get the saved answer replayed
    raw = make_client("sk_test_fake", stripe_api.base_url).v1.transfers.create(
        {
            "amount": 3000,
            "currency": "usd",
            "destination": "acct_1",
            "transfer_group": "payout:c1:2026-W48",
            "description": "d",
        },
        {"idempotency_key": "payout:c1:2026-W48"},
    )
    assert raw.id == first.id and len(stripe_api.created["transfer"]) == 1
    replayed = [r for r in stripe_api.requests if r.method == "POST"][-1]
    assert replayed.headers["idempotency-key"] == "payout:c1:2026-W48"


def test_the_same_key_with_another_amount_is_an_idempotency_conflict(stripe, stripe_api):
    client = make_client("sk_test_fake", stripe_api.base_url)
    client.v1.refunds.create({"payment_intent": "pi_1", "amount": 500}, {"idempotency_key": "refund:s1"})
    with pytest.raises(IdempotencyConflict, match="idempotency key"):
        stripe.refund(payment_ref="pi_1", amount_minor=900, idempotency_key="refund:s1")
    assert len(stripe_api.created["refund"]) == 1


def test_a_declined_card_fails_now_and_the_decline_is_replayed_for_its_key(stripe, stripe_api):
    stripe_api.script(card_declined())
    for _ in range(2):
        with pytest.raises(PaymentDeclined) as caught:
            stripe.charge(
                customer="cus_1", payment_method="pm_1", amount_minor=999, currency="usd", idempotency_key="k1"
            )
        assert caught.value.code == "card_declined" and isinstance(caught.value, NonRetryableError)
    assert stripe_api.created["payment_intent"] == []
    assert len([r for r in stripe_api.requests if r.method == "POST"]) == 2


def test_a_charge_sends_an_off_session_confirmed_payment_intent(stripe, stripe_api):
    charge = stripe.charge(
        customer="cus_1", payment_method="pm_card_visa", amount_minor=1082, currency="usd", idempotency_key="r1"
    )
    body = next(r for r in stripe_api.requests if r.method == "POST").body
    assert "confirm=true" in body and "off_session=true" in body and "customer=cus_1" in body
    assert charge.amount_minor == 1082 and charge.id.startswith("pi_fake_")


@pytest.mark.parametrize(
    ("reply", "error", "says"),
    [
        (rate_limited(), ProviderUnavailable, "RateLimitError"),
        (api_error(), ProviderUnavailable, "500"),
        (
            stripe_error(400, "invalid_request_error", "No such destination: 'acct_x'"),
            NonRetryableError,
            "No such destination",
        ),
    ],
)
def test_stripe_errors_map_to_retry_or_fail(stripe, stripe_api, reply, error, says):
    stripe_api.script(reply)
    with pytest.raises(error, match=says) as caught:
        _transfer(stripe)
    assert isinstance(caught.value, RetryableError) == (error is ProviderUnavailable)


def test_the_pack_reads_the_stripe_key_from_secrets_manager(runtime, stripe_api):
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="stripe", SecretString=json.dumps({"secret_key": "sk_test_from_secret"})
    )["ARN"]
    rt = with_packs(
        runtime, payments={"provider": "stripe", "stripe_secret_arn": arn, "stripe_api_base": stripe_api.base_url}
    )
    _transfer(provider_of(rt))
    assert stripe_api.requests[0].headers["authorization"] == "Bearer sk_test_from_secret"


def test_a_stripe_provider_without_a_secret_is_refused_with_the_fix():
    from offload.packs import payments_pack

    with pytest.raises(ValueError, match="provider 'stripe' needs stripe_secret_arn"):
        payments_pack(provider="stripe")
