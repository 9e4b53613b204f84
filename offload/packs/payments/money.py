"""Money in Decimal: cents (minor units), the revenue split of a sale and its tax.

Every amount is rounded to the currency's minor unit with ROUND_HALF_EVEN (banker's rounding, so a
million half-cent cases don't drift one way), and the split is exact: creator share + platform fee is
always the price, because the fee is what is left after the rounded share.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_minor(amount: Decimal | str | int) -> int:
    """A major-unit amount ("12.34") as integer minor units (1234), rounded half-even to the cent."""
    value = Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"amount {amount!r} is not a number: give it like 12.34")
    return int((value.quantize(CENT, rounding=ROUND_HALF_EVEN) * HUNDRED).to_integral_value())


def to_major(minor: int) -> Decimal:
    """Integer minor units as a Decimal with two places (1234 -> Decimal('12.34'))."""
    return (Decimal(minor) / HUNDRED).quantize(CENT)


def percent_of(minor: int, pct: Decimal) -> int:
    """`pct` percent of an amount in minor units, rounded half-even to a whole minor unit."""
    return int((Decimal(minor) * pct / HUNDRED).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def prorate(minor: int, part: int, whole: int) -> int:
    """`minor` scaled by part/whole (a partial refund's share), rounded half-even to a whole minor unit."""
    if whole <= 0 or not 0 <= part <= whole:
        raise ValueError(f"prorate needs 0 <= part <= whole and whole > 0, got {part}/{whole}")
    return int((Decimal(minor) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Split:
    """One sale: what the buyer paid (price + tax), the tax, the creator's share and the platform's fee."""

    price_minor: int
    tax_minor: int
    creator_minor: int
    fee_minor: int

    @property
    def gross_minor(self) -> int:
        return self.price_minor + self.tax_minor


def split_sale(price_minor: int, *, creator_share_pct: Decimal, tax_rate_pct: Decimal) -> Split:
    """Split a sale's price into the creator's share and the platform's fee, and add the tax on top."""
    if price_minor <= 0:
        raise ValueError(f"a sale's price must be positive, got {price_minor} minor units")
    creator = percent_of(price_minor, creator_share_pct)
    return Split(
        price_minor=price_minor,
        tax_minor=percent_of(price_minor, tax_rate_pct),
        creator_minor=creator,
        fee_minor=price_minor - creator,
    )
