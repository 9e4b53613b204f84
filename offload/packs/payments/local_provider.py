"""The local payment provider: records transfers, refunds and charges in the pack's table, deduped by key.

It behaves like Stripe where the payouts depend on it: one object per idempotency key (a conditional put,
so two concurrent calls with one key make one transfer and both get it back), the same key with other
parameters refused. Stripe's test payment methods decide a charge: `pm_card_chargeDeclined` (and any
`pm_card_*Declined*`) is declined with `card_declined`, everything else succeeds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from offload.ddb_items import from_item, read_all, to_item
from offload.packs.payments.provider import Charge, IdempotencyConflict, PaymentDeclined, Refund, Transfer

PARTITION = "local-provider"


class LocalPaymentProvider:
    """A provider that keeps its objects as rows `pk=local-provider, sk=<kind>#<idempotency key>`."""

    name = "local"

    def __init__(self, db: Any, table: str) -> None:
        self._db = db
        self._table = table

    def transfer(
        self, *, destination: str, amount_minor: int, currency: str, idempotency_key: str, description: str
    ) -> Transfer:
        row = self._once(
            "transfer",
            idempotency_key,
            {"destination": destination, "amount_minor": amount_minor, "currency": currency},
            description=description,
        )
        return Transfer(row["id"], row["amount_minor"], row["currency"], row["destination"], idempotency_key)

    def refund(self, *, payment_ref: str, amount_minor: int, idempotency_key: str) -> Refund:
        row = self._once("refund", idempotency_key, {"payment_ref": payment_ref, "amount_minor": amount_minor})
        return Refund(row["id"], row["payment_ref"], row["amount_minor"], idempotency_key)

    def charge(
        self, *, customer: str, payment_method: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> Charge:
        if "declined" in payment_method.lower():
            raise PaymentDeclined(f"card declined for customer {customer} ({payment_method})", code="card_declined")
        params = {"customer": customer, "payment_method": payment_method, "amount_minor": amount_minor}
        row = self._once("charge", idempotency_key, {**params, "currency": currency})
        return Charge(row["id"], row["customer"], row["amount_minor"], row["currency"], idempotency_key)

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every recorded object of a kind ("transfer", "refund", "charge"), oldest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :k)",
            "ExpressionAttributeValues": {":p": {"S": PARTITION}, ":k": {"S": f"{kind}#"}},
        }

        return sorted(read_all(self._db.query, **kwargs), key=lambda r: r["created_at"])

    def _once(self, kind: str, key: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        digest = hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:16]
        row = {
            "pk": PARTITION,
            "sk": f"{kind}#{key}",
            "id": f"{_PREFIX[kind]}_local_{digest}",
            "kind": kind,
            "idempotency_key": key,
            "created_at": datetime.now(UTC).isoformat(),
            **params,
            **extra,
        }
        try:
            self._db.put_item(TableName=self._table, Item=to_item(row), ConditionExpression="attribute_not_exists(pk)")
            return row
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        first = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": PARTITION}, "sk": {"S": row["sk"]}}, ConsistentRead=True
        )["Item"]
        existing = from_item(first)
        if any(existing.get(k) != v for k, v in params.items()):
            raise IdempotencyConflict(
                f"idempotency key {key!r} was first used for a {kind} with other parameters "
                f"({ {k: existing.get(k) for k in params} } vs {params}): use a new key for a new {kind}"
            )
        return existing


_PREFIX = {"transfer": "tr", "refund": "re", "charge": "ch"}
