"""The payment provider port: transfers to creators, refunds and charges, each under an idempotency key.

The one promise every adapter keeps (Stripe does; the local one copies it): a second call with the same
idempotency key and the same parameters returns the first call's object and moves no more money; the same
key with other parameters is refused (`IdempotencyConflict`). That is what makes a retried payout safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from offload.errors import NonRetryableError, RetryableError


@dataclass(frozen=True)
class Transfer:
    """Money sent to a creator's connected account."""

    id: str
    amount_minor: int
    currency: str
    destination: str
    idempotency_key: str


@dataclass(frozen=True)
class Refund:
    id: str
    payment_ref: str
    amount_minor: int
    idempotency_key: str


@dataclass(frozen=True)
class Charge:
    id: str
    customer: str
    amount_minor: int
    currency: str
    idempotency_key: str


class PaymentDeclined(NonRetryableError):
    """The card or account said no (Stripe's 402 card_error): retrying the same call cannot help."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class IdempotencyConflict(NonRetryableError):
    """The key was used before with other parameters: a bug in the caller, never retried."""


class ProviderUnavailable(RetryableError):
    """The provider is down or rate limiting (429, 5xx, network): try again later with the same key."""


class PaymentProvider(Protocol):
    """What the payments jobs need from a provider."""

    name: str

    def transfer(
        self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Transfer:
        """Send money to `destination`, once per `idempotency_key`."""
        ...

    def refund(self, *, payment_ref: str, amount_minor: int, idempotency_key: str) -> Refund:
        """Give back (part of) a payment, once per key."""
        ...

    def charge(
        self, *, customer: str, payment_method: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> Charge:
        """Charge a saved payment method off-session, once per key; PaymentDeclined when the card says no."""
        ...
