"""Sales, refunds and subscription renewals on the ledger, each exactly once under its own reference.

- A sale (`sale:<id>`) credits the creator's share; the platform keeps the fee; tax is added on top.
- A refund (`refund:<sale id>`) asks the provider under the key `refund:<sale id>`, then debits the creator's
  share of the refunded part in one transaction that also marks the sale refunded. A crash between the two
  re-asks the provider with the same key (the same refund comes back) and then writes the ledger.
- A renewal charges `renewal:<subscription>:<period>:<attempt>` (a new key per dunning attempt, because the
  provider replays a decline for its key). A decline moves the subscription to `past_due` and the caller
  schedules the next attempt; after the last one it is `cancelled`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offload.ddb_items import to_item, to_value
from offload.errors import NonRetryableError
from offload.packs.payments.ledger import Ledger, balance_update, creator_pk, now_iso
from offload.packs.payments.money import percent_of, prorate, split_sale
from offload.packs.payments.options import PaymentsOptions
from offload.packs.payments.periods import month_of
from offload.packs.payments.provider import PaymentDeclined, PaymentProvider

SUBSCRIPTION_SK = "subscription"


def record_sale(
    ledger: Ledger,
    options: PaymentsOptions,
    *,
    creator_id: str,
    sale_id: str,
    price_minor: int,
    payment_ref: str | None = None,
    at: str | None = None,
) -> bool:
    """Credit a sale's creator share (once per sale id); False when the sale was already recorded."""
    split = split_sale(price_minor, creator_share_pct=options.creator_share_pct, tax_rate_pct=options.tax_rate_pct)
    refused = ledger.entry_with_balance(
        creator_id,
        {
            "ref": f"sale:{sale_id}",
            "kind": "sale",
            "sale_id": sale_id,
            "payment_ref": payment_ref or f"pi_local_{sale_id}",
            "amount_minor": split.creator_minor,
            "price_minor": split.price_minor,
            "tax_minor": split.tax_minor,
            "fee_minor": split.fee_minor,
            "gross_minor": split.gross_minor,
            "refunded_minor": 0,
            **({"at": at} if at else {}),
        },
        split.creator_minor,
    )
    if refused is not None and 1 in refused.failed:
        raise NonRetryableError(f"no creator {creator_id!r}: add the creator before recording sale {sale_id!r}")
    return refused is None


@dataclass(frozen=True)
class RefundOutcome:
    status: str  # refunded | already_refunded
    refund_id: str
    amount_minor: int
    creator_debit_minor: int


def refund_sale(
    ledger: Ledger, provider: PaymentProvider, *, creator_id: str, sale_id: str, amount_minor: int | None
) -> RefundOutcome:
    """Refund (part of) a sale's gross to the buyer and take the creator's share of it back, exactly once."""
    sale = ledger.get(creator_pk(creator_id), f"entry#sale:{sale_id}")
    if sale is None:
        raise NonRetryableError(
            f"no sale {sale_id!r} for creator {creator_id!r}: check the ids (offload payments show)"
        )
    done = ledger.get(creator_pk(creator_id), f"entry#refund:{sale_id}")
    if done is not None:
        return RefundOutcome("already_refunded", done["refund_id"], done["refunded_minor"], -done["amount_minor"])
    gross = int(sale["gross_minor"])
    amount = gross if amount_minor is None else amount_minor
    if not 0 < amount <= gross:
        raise NonRetryableError(f"refund amount {amount} must be 1..{gross} (the sale's gross in minor units)")
    refund = provider.refund(payment_ref=sale["payment_ref"], amount_minor=amount, idempotency_key=f"refund:{sale_id}")
    # The creator gives back their share of the price part of what is refunded (tax goes back in full).
    creator_debit = prorate(int(sale["amount_minor"]), amount, gross)
    at = now_iso()
    entry = {
        "pk": creator_pk(creator_id),
        "sk": f"entry#refund:{sale_id}",
        "creator_id": creator_id,
        "ref": f"refund:{sale_id}",
        "kind": "refund",
        "sale_id": sale_id,
        "refund_id": refund.id,
        "refunded_minor": amount,
        "amount_minor": -creator_debit,
        "at": at,
        "month": month_of(at),
    }
    refused = ledger.transact(
        [
            {"Put": {"Item": to_item(entry), "ConditionExpression": "attribute_not_exists(pk)"}},
            balance_update(creator_id, -creator_debit),
            {
                "Update": {
                    "Key": {"pk": {"S": creator_pk(creator_id)}, "sk": {"S": f"entry#sale:{sale_id}"}},
                    "UpdateExpression": "SET refunded_minor = :a",
                    "ExpressionAttributeValues": {":a": to_value(amount)},
                }
            },
        ]
    )
    if refused is not None:
        return RefundOutcome("already_refunded", refund.id, amount, creator_debit)
    return RefundOutcome("refunded", refund.id, amount, creator_debit)


def subscription_pk(subscription_id: str) -> str:
    return f"subscription#{subscription_id}"


def add_subscription(
    ledger: Ledger, *, subscription_id: str, customer: str, payment_method: str, price_minor: int
) -> bool:
    """An active subscription billed `price_minor` (+ tax) a month; False if it exists."""
    return ledger.put_new(
        {
            "pk": subscription_pk(subscription_id),
            "sk": SUBSCRIPTION_SK,
            "subscription_id": subscription_id,
            "customer": customer,
            "payment_method": payment_method,
            "price_minor": price_minor,
            "status": "active",
            "paid_through": "",
            "dunning_attempt": 0,
            "created_at": now_iso(),
        }
    )


@dataclass(frozen=True)
class RenewalOutcome:
    status: str  # renewed | already_renewed | past_due | cancelled
    charge_id: str | None = None
    retry_in_days: int | None = None
    next_attempt: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def renew(
    ledger: Ledger,
    provider: PaymentProvider,
    options: PaymentsOptions,
    *,
    subscription_id: str,
    period: str,
    attempt: int,
) -> RenewalOutcome:
    """Charge one month of a subscription; on a decline, say when to try again (or cancel after the last)."""
    sub = ledger.get(subscription_pk(subscription_id), SUBSCRIPTION_SK)
    if sub is None:
        raise NonRetryableError(f"no subscription {subscription_id!r}: add it with `offload payments subscribe`")
    if sub["status"] == "cancelled":
        return RenewalOutcome("cancelled", reason="the subscription was cancelled before this attempt")
    if sub["paid_through"] >= period:
        return RenewalOutcome("already_renewed", charge_id=sub.get("last_charge_id"))
    price = int(sub["price_minor"])
    tax = percent_of(price, options.tax_rate_pct)
    try:
        charge = provider.charge(
            customer=sub["customer"],
            payment_method=sub["payment_method"],
            amount_minor=price + tax,
            currency=options.currency,
            idempotency_key=f"renewal:{subscription_id}:{period}:{attempt}",
        )
    except PaymentDeclined as exc:
        return _declined(ledger, options, sub, period, attempt, str(exc))
    at = now_iso()
    entry = {
        "pk": "platform",
        "sk": f"entry#renewal:{subscription_id}:{period}",
        "ref": f"renewal:{subscription_id}:{period}",
        "kind": "renewal",
        "subscription_id": subscription_id,
        "charge_id": charge.id,
        "price_minor": price,
        "tax_minor": tax,
        "gross_minor": price + tax,
        "fee_minor": price,  # all of a subscription is the platform's revenue
        "at": at,
        "month": month_of(at),
    }
    refused = ledger.transact(
        [
            {"Put": {"Item": to_item(entry), "ConditionExpression": "attribute_not_exists(pk)"}},
            _sub_update(subscription_id, "active", 0, paid_through=period, last_charge_id=charge.id),
        ]
    )
    return RenewalOutcome("already_renewed" if refused else "renewed", charge_id=charge.id)


def _declined(
    ledger: Ledger, options: PaymentsOptions, sub: dict[str, Any], period: str, attempt: int, reason: str
) -> RenewalOutcome:
    subscription_id = sub["subscription_id"]
    if attempt < len(options.dunning_days):
        days = options.dunning_days[attempt]
        ledger.transact([_sub_update(subscription_id, "past_due", attempt + 1, last_decline=reason)])
        return RenewalOutcome("past_due", retry_in_days=days, next_attempt=attempt + 1, reason=reason)
    ledger.transact([_sub_update(subscription_id, "cancelled", attempt, last_decline=reason)])
    return RenewalOutcome("cancelled", reason=f"declined {attempt + 1} times, last: {reason}")


def _sub_update(subscription_id: str, status: str, dunning_attempt: int, **fields: Any) -> dict[str, Any]:
    names = {"#s": "status", **{f"#{k}": k for k in fields}}
    sets = ["#s = :s", "dunning_attempt = :d", "updated_at = :u", *(f"#{k} = :{k}" for k in fields)]
    values = {":s": status, ":d": dunning_attempt, ":u": now_iso(), **{f":{k}": v for k, v in fields.items()}}
    return {
        "Update": {
            "Key": {"pk": {"S": subscription_pk(subscription_id)}, "sk": {"S": SUBSCRIPTION_SK}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {k: to_value(v) for k, v in values.items()},
        }
    }
