"""The payments table: creators' balances, their ledger entries, payout rows and subscriptions.

One DynamoDB table, keys `pk`/`sk`:

    creator#<id>      balance             balance_minor, currency, account (the provider's destination)
    creator#<id>      entry#<ref>         one ledger entry: sale:<id>, payout:<period>, refund:<sale id>
    creator#<id>      payout#<period>     the payout row: state intent -> paid, amount, key, transfer id
    platform          entry#renewal:<..>  the platform's own revenue (subscription renewals)
    subscription#<id> subscription        customer, payment method, price, status, paid_through, dunning
    local-provider    <kind>#<key>        the local provider's transfers, refunds and charges

An entry's sort key is its business reference, so writing one is conditional on it not existing: a sale,
refund or payout is on the ledger at most once whatever retries. Balances change only in the same
TransactWriteItems that adds the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from offload.ddb_items import from_item, read_all, to_item, to_value
from offload.errors import NonRetryableError
from offload.packs.payments.periods import month_of


def creator_pk(creator_id: str) -> str:
    return f"creator#{creator_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Cancelled:
    """A transaction refused by a condition: which of its items' conditions failed (by index)."""

    failed: tuple[int, ...]


class Ledger:
    """Reads and conditional writes on the payments table (the botocore DynamoDB client)."""

    def __init__(self, db: Any, table: str) -> None:
        self.db = db
        self.table = table

    # -- rows --------------------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.db.get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get(
            "Item"
        )
        return from_item(item) if item else None

    def put_new(self, row: dict[str, Any]) -> bool:
        """Write a row that must not exist yet; False when it already did."""
        try:
            self.db.put_item(TableName=self.table, Item=to_item(row), ConditionExpression="attribute_not_exists(pk)")
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        """Every row of a partition whose sort key starts with `prefix`."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":s": {"S": prefix}},
            "ConsistentRead": True,
        }
        return read_all(self.db.query, **kwargs)

    def scan(self, sk_prefix: str, **filters: str) -> list[dict[str, Any]]:
        """Every row whose sort key starts with `sk_prefix` (and whose string fields equal `filters`)."""
        expression = ["begins_with(sk, :s)", *(f"#{k} = :{k}" for k in filters)]
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": " AND ".join(expression),
            "ExpressionAttributeValues": {":s": {"S": sk_prefix}, **{f":{k}": {"S": v} for k, v in filters.items()}},
            "ConsistentRead": True,
        }
        if filters:
            kwargs["ExpressionAttributeNames"] = {f"#{k}": k for k in filters}
        return read_all(self.db.scan, **kwargs)

    def transact(self, items: list[dict[str, Any]]) -> Cancelled | None:
        """One TransactWriteItems; a Cancelled naming the failed conditions when a condition refused it."""
        for item in items:
            body = next(iter(item.values()))
            body["TableName"] = self.table
        try:
            self.db.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            failed = tuple(i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed")
            if not failed:
                raise
            return Cancelled(failed)

    # -- creators and entries ----------------------------------------------------------------------

    def add_creator(self, creator_id: str, *, account: str, currency: str) -> bool:
        """A creator with a zero balance, paid to `account`; False if the creator exists."""
        return self.put_new(
            {
                "pk": creator_pk(creator_id),
                "sk": "balance",
                "creator_id": creator_id,
                "account": account,
                "currency": currency,
                "balance_minor": 0,
                "created_at": now_iso(),
            }
        )

    def creator(self, creator_id: str) -> dict[str, Any]:
        row = self.get(creator_pk(creator_id), "balance")
        if row is None:
            raise NonRetryableError(
                f"no creator {creator_id!r} in the payments ledger: add one with `offload payments seed` "
                "or Ledger.add_creator"
            )
        return row

    def creators(self) -> list[dict[str, Any]]:
        """Every creator's balance row, by id."""
        return sorted(self.scan("balance"), key=lambda r: r["creator_id"])

    def entries(self, creator_id: str) -> list[dict[str, Any]]:
        return sorted(self.query(creator_pk(creator_id), "entry#"), key=lambda r: r["at"])

    def entry_with_balance(self, creator_id: str, entry: dict[str, Any], delta_minor: int) -> Cancelled | None:
        """Add a ledger entry (once: its ref is its key) and move the balance by `delta_minor`, atomically."""
        at = entry.get("at") or now_iso()
        row = {
            "pk": creator_pk(creator_id),
            "sk": f"entry#{entry['ref']}",
            "creator_id": creator_id,
            "at": at,
            "month": month_of(at),
            **entry,
        }
        return self.transact(
            [
                {
                    "Put": {"Item": to_item(row), "ConditionExpression": "attribute_not_exists(pk)"},
                },
                balance_update(creator_id, delta_minor),
            ]
        )


def balance_update(creator_id: str, delta_minor: int) -> dict[str, Any]:
    """A transaction item moving a creator's balance (the creator must exist)."""
    return {
        "Update": {
            "Key": {"pk": {"S": creator_pk(creator_id)}, "sk": {"S": "balance"}},
            "UpdateExpression": "ADD balance_minor :d",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":d": to_value(delta_minor)},
        }
    }
