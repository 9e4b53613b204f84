"""Exactly-once payouts: one transfer and one ledger debit per (creator, period), whatever is retried.

Three steps, each a boundary a crash can fall on (`after_step` is called after each; tests raise from it):

1. **intent**: the payout row `payout#<period>` is written with the amount and the idempotency key
   `payout:<creator>:<period>` (a conditional put: the first writer wins, everyone else reads its row, so
   the amount is frozen once and every retry pays the same amount under the same key).
2. **transfer**: the provider is asked for the transfer under that key. A repeat (a retry after a crash,
   a duplicate delivery, the schedule firing twice) gets the first transfer back, not a new one.
3. **ledger**: one TransactWriteItems marks the row `paid` (conditional on it still being `intent`), adds
   the ledger entry `payout:<period>` (conditional on it not existing) and debits the balance. If another
   worker got there first the condition refuses it and this one reads the paid row.

A row already `paid` ends the run at step 0. The key depends on the creator and the period only, never on
the job id, so two jobs for one period pay once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offload.ddb_items import to_item, to_value
from offload.observability import logger
from offload.packs.payments.ledger import Ledger, balance_update, creator_pk, now_iso
from offload.packs.payments.periods import month_of
from offload.packs.payments.provider import PaymentProvider

STEPS = ("intent", "transfer", "ledger")


def payout_key(creator_id: str, period: str) -> str:
    """The idempotency key of a creator's payout for a period (the provider's key and transfer group)."""
    return f"payout:{creator_id}:{period}"


@dataclass(frozen=True)
class PayoutOutcome:
    creator_id: str
    period: str
    status: str  # paid | already_paid | below_minimum
    amount_minor: int
    transfer_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "creator_id": self.creator_id,
            "period": self.period,
            "status": self.status,
            "amount_minor": self.amount_minor,
            "transfer_id": self.transfer_id,
        }


class Payouts:
    """Pays creators' balances through a provider, exactly once per (creator, period)."""

    def __init__(
        self,
        ledger: Ledger,
        provider: PaymentProvider,
        *,
        min_payout_minor: int,
        after_step: Callable[[str], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.provider = provider
        self.min_payout_minor = min_payout_minor
        self.after_step = after_step or (lambda step: None)

    def pay(self, creator_id: str, period: str, *, job_id: str = "") -> PayoutOutcome:
        """Pay one creator's balance for `period` (or find it paid)."""
        creator = self.ledger.creator(creator_id)
        row = self.ledger.get(creator_pk(creator_id), f"payout#{period}")
        if row is not None and row["state"] == "paid":
            return PayoutOutcome(creator_id, period, "already_paid", row["amount_minor"], row.get("transfer_id"))
        if row is None:
            amount = int(creator["balance_minor"])
            if amount < self.min_payout_minor:
                return PayoutOutcome(creator_id, period, "below_minimum", amount)
            row = self._intent(creator, period, amount, job_id)
        self.after_step("intent")
        transfer = self.provider.transfer(
            destination=row["account"],
            amount_minor=row["amount_minor"],
            currency=row["currency"],
            idempotency_key=row["idempotency_key"],
            description=f"offload payout {period} for {creator_id}",
        )
        self.after_step("transfer")
        outcome = self._commit(creator_id, period, row, transfer.id)
        self.after_step("ledger")
        return outcome

    def _intent(self, creator: dict[str, Any], period: str, amount: int, job_id: str) -> dict[str, Any]:
        creator_id = creator["creator_id"]
        row = {
            "pk": creator_pk(creator_id),
            "sk": f"payout#{period}",
            "creator_id": creator_id,
            "period": period,
            "state": "intent",
            "amount_minor": amount,
            "currency": creator["currency"],
            "account": creator["account"],
            "idempotency_key": payout_key(creator_id, period),
            "provider": self.provider.name,
            "job_id": job_id,
            "created_at": now_iso(),
        }
        if self.ledger.put_new(row):
            return row
        first = self.ledger.get(creator_pk(creator_id), f"payout#{period}")
        assert first is not None, "a payout row refused as existing must be readable"
        return first

    def _commit(self, creator_id: str, period: str, row: dict[str, Any], transfer_id: str) -> PayoutOutcome:
        at = now_iso()
        amount = int(row["amount_minor"])
        entry = {
            "pk": creator_pk(creator_id),
            "sk": f"entry#payout:{period}",
            "creator_id": creator_id,
            "ref": f"payout:{period}",
            "kind": "payout",
            "amount_minor": -amount,
            "transfer_id": transfer_id,
            "at": at,
            "month": month_of(at),
        }
        refused = self.ledger.transact(
            [
                {
                    "Update": {
                        "Key": {"pk": {"S": row["pk"]}, "sk": {"S": row["sk"]}},
                        "UpdateExpression": "SET #s = :paid, transfer_id = :t, paid_at = :at",
                        "ConditionExpression": "#s = :intent",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {
                            ":paid": to_value("paid"),
                            ":intent": to_value("intent"),
                            ":t": to_value(transfer_id),
                            ":at": to_value(at),
                        },
                    }
                },
                {"Put": {"Item": to_item(entry), "ConditionExpression": "attribute_not_exists(pk)"}},
                balance_update(creator_id, -amount),
            ]
        )
        if refused is not None:
            logger.info("payout already committed by another run", creator_id=creator_id, period=period)
            paid = self.ledger.get(row["pk"], row["sk"])
            assert paid is not None and paid["state"] == "paid", f"payout {row['sk']} refused but not paid: {paid}"
            return PayoutOutcome(creator_id, period, "already_paid", amount, paid.get("transfer_id"))
        logger.info("payout paid", creator_id=creator_id, period=period, amount_minor=amount, transfer_id=transfer_id)
        return PayoutOutcome(creator_id, period, "paid", amount, transfer_id)
