"""The Stripe adapter: transfers, refunds and off-session charges through the `stripe` SDK (StripeClient).

Every call carries the caller's idempotency key (Stripe replays the first answer for 24 hours and refuses the
same key with other parameters). A transfer also carries the key as its `transfer_group`, and the adapter
looks for a transfer in that group before creating one: after Stripe has forgotten a key (24 h+), or after a
500 whose outcome is unknown, the payout finds the transfer it made instead of paying twice.

The SDK's own retries are off (`max_network_retries=0`): the job's retries (with the same key) are the one
retry policy. Errors map onto the job's outcome: card_error -> PaymentDeclined (fail now), 429/5xx/network
-> ProviderUnavailable (retry later), idempotency_error -> IdempotencyConflict, other 4xx -> NonRetryableError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from offload.errors import NonRetryableError
from offload.packs.payments.provider import (
    Charge,
    IdempotencyConflict,
    PaymentDeclined,
    ProviderUnavailable,
    Refund,
    Transfer,
)

if TYPE_CHECKING:
    import stripe

T = TypeVar("T")


def make_client(api_key: str, api_base: str | None = None) -> stripe.StripeClient:
    """A StripeClient with the SDK's retries off, on `api_base` when given (a loopback fake in tests)."""
    import stripe

    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=0,
    )


class StripePaymentProvider:
    """The payment provider port on Stripe Connect (transfers to connected accounts) and PaymentIntents."""

    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def transfer(
        self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Transfer:
        existing = _call(
            lambda: self._client.v1.transfers.list({"transfer_group": idempotency_key, "limit": 1}),
            "list transfers",
        )
        found = list(existing.data)
        if found:
            return _transfer(found[0], idempotency_key)
        made = _call(
            lambda: self._client.v1.transfers.create(
                {
                    "amount": amount_minor,
                    "currency": currency,
                    "destination": destination,
                    "transfer_group": idempotency_key,
                    "description": description,
                },
                {"idempotency_key": idempotency_key},
            ),
            "create a transfer",
        )
        return _transfer(made, idempotency_key)

    def refund(self, *, payment_ref: str, amount_minor: int, idempotency_key: str) -> Refund:
        made = _call(
            lambda: self._client.v1.refunds.create(
                {"payment_intent": payment_ref, "amount": amount_minor}, {"idempotency_key": idempotency_key}
            ),
            "create a refund",
        )
        return Refund(made.id, payment_ref, int(made.amount), idempotency_key)

    def charge(
        self, *, customer: str, payment_method: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> Charge:
        made = _call(
            lambda: self._client.v1.payment_intents.create(
                {
                    "amount": amount_minor,
                    "currency": currency,
                    "customer": customer,
                    "payment_method": payment_method,
                    "confirm": True,
                    "off_session": True,
                },
                {"idempotency_key": idempotency_key},
            ),
            "charge",
        )
        if made.status != "succeeded":
            raise PaymentDeclined(f"Stripe payment {made.id} is {made.status}, not succeeded", code=str(made.status))
        return Charge(made.id, customer, int(made.amount), str(made.currency), idempotency_key)


def _transfer(obj: Any, key: str) -> Transfer:
    return Transfer(obj.id, int(obj.amount), str(obj.currency), str(obj.destination), key)


def _call(fn: Callable[[], T], what: str) -> T:
    """Run one SDK call, turning Stripe's errors into the job outcomes they mean."""
    import stripe

    try:
        return fn()
    except stripe.CardError as exc:
        raise PaymentDeclined(f"Stripe declined: {exc.user_message or exc}", code=str(exc.code)) from exc
    except stripe.IdempotencyError as exc:
        raise IdempotencyConflict(f"Stripe refused the idempotency key when trying to {what}: {exc}") from exc
    except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
        raise ProviderUnavailable(f"Stripe unavailable ({type(exc).__name__}) when trying to {what}: {exc}") from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        if status >= 500 or status in (408, 409):
            raise ProviderUnavailable(f"Stripe answered {status} when trying to {what}: {exc}") from exc
        raise NonRetryableError(f"Stripe refused to {what} ({status}): {exc}") from exc
