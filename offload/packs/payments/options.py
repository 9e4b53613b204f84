"""The payments pack's options (`payments_pack(...)`): the revenue split, tax, currency, provider and dunning."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PaymentsOptions(BaseModel):
    """What an app chooses; every field has a default that runs offline (the local provider)."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case (Stripe's)")
    creator_share_pct: Decimal = Field(
        default=Decimal("80"), ge=0, le=100, description="the creator's share of a sale's net price, in percent"
    )
    tax_rate_pct: Decimal = Field(
        default=Decimal("0"), ge=0, le=100, description="sales tax added on top of the price, in percent"
    )
    min_payout_minor: int = Field(default=100, ge=1, description="balances below this (minor units) wait a period")
    provider: Literal["local", "stripe"] = "local"
    stripe_secret_arn: str | None = Field(default=None, description="Secrets Manager secret with the Stripe key")
    stripe_api_base: str | None = Field(default=None, description="Stripe's API base URL (tests: a loopback fake)")
    dunning_days: tuple[int, ...] = Field(
        default=(1, 3, 7), min_length=1, description="days after a declined renewal to try again; then cancel"
    )

    @model_validator(mode="after")
    def _stripe_needs_a_key(self) -> PaymentsOptions:
        if self.provider == "stripe" and not self.stripe_secret_arn:
            raise ValueError(
                "provider 'stripe' needs stripe_secret_arn: store the secret key in Secrets Manager and pass its ARN"
            )
        if any(d < 1 for d in self.dunning_days) or list(self.dunning_days) != sorted(self.dunning_days):
            raise ValueError(f"dunning_days {self.dunning_days} must be increasing whole days >= 1, e.g. (1, 3, 7)")
        return self
