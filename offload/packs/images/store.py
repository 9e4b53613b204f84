"""Image records: one per upload key, status pending -> processing -> completed | failed."""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from offload.jobs.model import now_iso

ImageStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
# Which statuses a write to each target may start from: a finished record never moves,
# except that a new version of the object (a new upload) starts again from pending.
_SOURCES: dict[str, tuple[str, ...]] = {
    "pending": (),
    "processing": ("pending",),
    "cancelled": ("pending", "processing"),
    "completed": ("processing",),
    "failed": ("pending", "processing"),
}


class ImageRecord(BaseModel):
    """What a client polls for an upload."""

    key: str
    bucket: str
    status: ImageStatus
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    metadata: dict[str, Any] | None = None
    variants: list[dict[str, Any]] = Field(default_factory=list)
    embedding: dict[str, Any] | None = None
    execution_arn: str | None = None
    error: dict[str, str] | None = None
    created_at: str
    updated_at: str


class ImageStore:
    """Conditional writes of image records in the images table (partition key `key`)."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self.table = table

    def get(self, key: str) -> ImageRecord | None:
        """The record of an upload key, or None."""
        item = self._db.get_item(TableName=self.table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return ImageRecord.model_validate(json.loads(item["doc"]["S"])) if item else None

    def register(self, record: ImageRecord) -> bool:
        """Create the pending record; False when this object version is already registered
        (a duplicate S3 event), True for a new key or a new version of it."""
        condition = "attribute_not_exists(#k) OR version_tag <> :v"
        try:
            self._db.put_item(
                TableName=self.table,
                Item=self._item(record),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues={":v": {"S": _version_tag(record)}},
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def update(self, key: str, status: ImageStatus, **fields: Any) -> ImageRecord | None:
        """Move to `status` (conditional on the allowed source statuses) and set fields."""
        current = self.get(key)
        if current is None or (current.status not in _SOURCES[status] and current.status != status):
            return None
        updated = current.model_copy(update={**fields, "status": status, "updated_at": now_iso()})
        try:
            self._db.put_item(
                TableName=self.table,
                Item=self._item(updated),
                ConditionExpression="#s = :s AND version_tag = :v",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": current.status}, ":v": {"S": _version_tag(current)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return updated

    def _item(self, record: ImageRecord) -> dict[str, Any]:
        return {
            "key": {"S": record.key},
            "status": {"S": record.status},
            "version_tag": {"S": _version_tag(record)},
            "doc": {"S": record.model_dump_json()},
        }


def _version_tag(record: ImageRecord) -> str:
    return record.version_id or record.etag or "unversioned"
