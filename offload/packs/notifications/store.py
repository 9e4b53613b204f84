"""Delivery records: one per notification, queued -> sent -> delivered | bounced, or failed; and disabled endpoints.

Every status change is one conditional write whose condition comes from DELIVERY_LIFECYCLE
(`offload.lifecycle`): a late or repeated SES event can't move a bounced record back to delivered,
and a retried job can't send again to a recipient whose record already left `queued`.
Endpoints that told us to stop (a webhook's 410, a deleted Discord webhook, a disabled push
endpoint) get a record of their own in the same table, so later deliveries fail fast with the reason.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from offload.jobs.model import now_iso
from offload.lifecycle import Lifecycle, conditional_update, is_condition_failure, status_condition

DeliveryStatus = Literal["queued", "sent", "delivered", "bounced", "failed"]
DELIVERY_LIFECYCLE: Lifecycle[DeliveryStatus] = Lifecycle(
    {
        "queued": {"sent", "failed"},
        # SES reports a bounce or complaint after the send, or a delivery; a "sent" record may still fail
        # (a rejected or rendering-failure event).
        "sent": {"delivered", "bounced", "failed"},
        # A complaint can follow a delivery: the record keeps "delivered" and notes the event.
        "delivered": set(),
        "bounced": set(),
        "failed": set(),
    }
)
Channel = Literal["email", "sms", "push", "discord", "webhook"]
RETAIN_S = 30 * 86_400  # records expire (DynamoDB TTL) a month after their last change
_ENDPOINT_PREFIX = "endpoint#"


class DeliveryRecord(BaseModel):
    """What `offload notify get` shows for one notification."""

    key: str = Field(description="the delivery id: the job id, or <job id>-<n> for a digest's n-th recipient")
    job_id: str
    channel: Channel
    to: str = Field(description="the recipient: address, number, endpoint or the webhook URL without its token")
    status: DeliveryStatus
    provider_id: str | None = Field(default=None, description="SES or SNS message id")
    reason: str | None = None
    events: list[dict[str, Any]] = Field(default_factory=list, description="SES delivery events, oldest first")
    created_at: str
    updated_at: str


class DisabledEndpoint(BaseModel):
    """An endpoint later deliveries skip, and why."""

    channel: Channel
    target: str
    reason: str
    disabled_at: str


def endpoint_key(channel: str, target: str) -> str:
    """The record key of an endpoint (a digest of the URL or ARN: webhook URLs carry secrets)."""
    return f"{_ENDPOINT_PREFIX}{channel}#{hashlib.sha256(target.encode()).hexdigest()[:40]}"


class DeliveryStore:
    """Delivery records and disabled endpoints in the pack's table (partition key `key`)."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self.table = table

    def open(self, key: str, *, job_id: str, channel: Channel, to: str) -> DeliveryRecord:
        """The record of a delivery, created `queued` unless it exists (a retry gets the one it had)."""
        ts = now_iso()
        record = DeliveryRecord(
            key=key, job_id=job_id, channel=channel, to=to, status="queued", created_at=ts, updated_at=ts
        )
        try:
            self._db.put_item(
                TableName=self.table,
                Item=self._to_item(record),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
            return record
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
        existing = self.get(key)
        if existing is None:  # expired between the two calls: start again
            return self.open(key, job_id=job_id, channel=channel, to=to)
        return existing

    def get(self, key: str) -> DeliveryRecord | None:
        item = self._db.get_item(TableName=self.table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return self._from_item(item) if item and not key.startswith(_ENDPOINT_PREFIX) else None

    def move(
        self,
        key: str,
        status: DeliveryStatus,
        *,
        provider_id: str | None = None,
        reason: str | None = None,
        event: dict[str, Any] | None = None,
    ) -> DeliveryRecord | None:
        """Move to `status` in one conditional write (only from the statuses DELIVERY_LIFECYCLE allows),
        setting the provider id or reason and appending an event; None when the move is refused."""
        return self._update(key, DELIVERY_LIFECYCLE.sources_of(status), status, provider_id, reason, event)

    def note(self, key: str, event: dict[str, Any]) -> DeliveryRecord | None:
        """Append an event without moving the record (e.g. a complaint after a delivery)."""
        return self._update(key, DELIVERY_LIFECYCLE.states, None, None, None, event)

    def _update(
        self,
        key: str,
        sources: Any,
        status: DeliveryStatus | None,
        provider_id: str | None,
        reason: str | None,
        event: dict[str, Any] | None,
    ) -> DeliveryRecord | None:
        states, values = status_condition(list(sources))
        sets = ["#u = :now", "#x = :exp"]
        names = {"#k": "key", "#s": "status", "#u": "updated_at", "#x": "expires_at"}
        values |= {":now": {"S": now_iso()}, ":exp": {"N": str(int(time.time()) + RETAIN_S)}}
        if status is not None:
            sets.append("#s = :status")
            values[":status"] = {"S": status}
        if provider_id is not None:
            sets.append("#p = :p")
            names["#p"] = "provider_id"
            values[":p"] = {"S": provider_id}
        if reason is not None:
            sets.append("#r = :r")
            names["#r"] = "reason"
            values[":r"] = {"S": reason[:1000]}
        if event is not None:
            sets.append("#e = list_append(if_not_exists(#e, :empty), :ev)")
            names["#e"] = "events"
            values |= {":ev": {"L": [{"S": json.dumps(event, default=str)}]}, ":empty": {"L": []}}
        item = conditional_update(
            self._db,
            TableName=self.table,
            Key={"key": {"S": key}},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=f"attribute_exists(#k) AND {states}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return self._from_item(item) if item is not None else None

    def scan(self, *, status: DeliveryStatus | None = None, channel: str | None = None) -> Iterator[DeliveryRecord]:
        """Every delivery record (of one status and channel), in no particular order."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self._db.scan(**kwargs)
            for item in page.get("Items", []):
                if item["key"]["S"].startswith(_ENDPOINT_PREFIX):
                    continue
                record = self._from_item(item)
                if (status is None or record.status == status) and (channel is None or record.channel == channel):
                    yield record
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def disable_endpoint(self, channel: Channel, target: str, reason: str) -> None:
        """Remember that an endpoint is gone, so later deliveries to it fail at once."""
        self._db.put_item(
            TableName=self.table,
            Item={
                "key": {"S": endpoint_key(channel, target)},
                "status": {"S": "disabled"},
                "channel": {"S": channel},
                "target": {"S": target},
                "reason": {"S": reason[:1000]},
                "disabled_at": {"S": now_iso()},
            },
        )

    def disabled(self, channel: Channel, target: str) -> DisabledEndpoint | None:
        """The disabled-endpoint record of a target, or None when it may be called."""
        item = self._db.get_item(
            TableName=self.table, Key={"key": {"S": endpoint_key(channel, target)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return DisabledEndpoint.model_validate({k: v["S"] for k, v in item.items() if "S" in v})

    def enable_endpoint(self, channel: Channel, target: str) -> bool:
        """Forget a disabled endpoint (after the receiver is fixed); False when it was not disabled."""
        resp = self._db.delete_item(
            TableName=self.table, Key={"key": {"S": endpoint_key(channel, target)}}, ReturnValues="ALL_OLD"
        )
        return bool(resp.get("Attributes"))

    @staticmethod
    def _to_item(record: DeliveryRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            name: {"S": value}
            for name, value in record.model_dump().items()
            if isinstance(value, str) and value is not None
        }
        item["events"] = {"L": [{"S": json.dumps(e, default=str)} for e in record.events]}
        item["expires_at"] = {"N": str(int(time.time()) + RETAIN_S)}
        return item

    @staticmethod
    def _from_item(item: dict[str, Any]) -> DeliveryRecord:
        raw: dict[str, Any] = {k: v["S"] for k, v in item.items() if "S" in v}
        raw["events"] = [json.loads(e["S"]) for e in item.get("events", {}).get("L", [])]
        return DeliveryRecord.model_validate(raw)
