"""What the payments pack's construct provisions (`Settings.packs["payments"]`), and the wiring built from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from offload.packs.payments.options import PaymentsOptions

if TYPE_CHECKING:
    from offload.packs.payments.ledger import Ledger
    from offload.packs.payments.provider import PaymentProvider
    from offload.runtime import Runtime

PACK = "payments"
# The Stripe key, read once per process (per secret).
_stripe_keys: dict[str, str] = {}


class PaymentsSettings(BaseModel):
    payments_table: str = Field(description="DynamoDB table of balances, ledger entries, payouts, subscriptions")
    options: dict[str, Any] = Field(default_factory=dict, description="PaymentsOptions of the catalog's pack")

    @property
    def chosen(self) -> PaymentsOptions:
        return PaymentsOptions.model_validate(self.options)


def payments_settings(rt: Runtime) -> PaymentsSettings:
    """The payments pack's settings of this deployment, or a SettingsError saying it isn't deployed."""
    return rt.settings.pack(PACK, PaymentsSettings)


def ledger_of(rt: Runtime) -> Ledger:
    from offload.packs.payments.ledger import Ledger

    return Ledger(rt.clients.dynamodb, payments_settings(rt).payments_table)


def provider_of(rt: Runtime) -> PaymentProvider:
    """The provider the pack's options name: Stripe (key from Secrets Manager) or the local one."""
    settings = payments_settings(rt)
    options = settings.chosen
    if options.provider == "local":
        from offload.packs.payments.local_provider import LocalPaymentProvider

        return LocalPaymentProvider(rt.clients.dynamodb, settings.payments_table)
    from offload.packs.payments.stripe_provider import StripePaymentProvider, make_client
    from offload.secrets import read_secret_key

    arn = str(options.stripe_secret_arn)
    if arn not in _stripe_keys:
        _stripe_keys[arn] = read_secret_key(
            rt.clients.secrets, arn, what="the Stripe secret key", json_field="secret_key"
        )
    return StripePaymentProvider(make_client(_stripe_keys[arn], options.stripe_api_base))
