"""Image records: one per upload key, status pending -> processing -> completed | failed | cancelled.

Every status change is one conditional DynamoDB update whose condition comes from
IMAGE_LIFECYCLE (`offload.lifecycle`) and, when given, the object version the caller works on.
Each field is its own attribute (JSON text), so an update sets only the fields it names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from offload.jobs.model import now_iso
from offload.lifecycle import Lifecycle, conditional_update, is_condition_failure, status_condition

ImageStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
# A finished record never moves. The one way back to pending is a new version of the object
# (a new upload): `register` replaces the record whatever its status.
IMAGE_LIFECYCLE: Lifecycle[ImageStatus] = Lifecycle(
    {
        "pending": {"processing", "failed", "cancelled"},
        "processing": {"processing", "completed", "failed", "cancelled"},
        "completed": set(),
        "failed": set(),
        "cancelled": set(),
    }
)
# Stored as plain strings: the partition key and the attributes conditions compare.
_PLAIN = ("key", "status", "version_tag")


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
        return _from_item(item) if item else None

    def register(self, record: ImageRecord) -> bool:
        """Create the pending record; False when this object version is already registered
        (a duplicate S3 event), True for a new key or a new version of it (which starts again)."""
        condition = "attribute_not_exists(#k) OR version_tag <> :v"
        try:
            self._db.put_item(
                TableName=self.table,
                Item=_to_item(record),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues={":v": {"S": version_tag(record.model_dump())}},
            )
            return True
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise

    def update(self, key: str, status: ImageStatus, *, version: str | None = None, **fields: Any) -> ImageRecord | None:
        """Move to `status` and set `fields`, in one conditional write: only from the statuses
        IMAGE_LIFECYCLE allows and, when `version` (a `version_tag`) is given, only for that version
        of the object. None when the record is missing or the write is refused."""
        states, values = status_condition(IMAGE_LIFECYCLE.sources_of(status))
        return self._write(key, states, values, version, {**fields, "status": status})

    def annotate(self, key: str, *, version: str | None = None, **fields: Any) -> ImageRecord | None:
        """Set `fields` of a record that is still running (not final), keeping its status."""
        running = [s for s in IMAGE_LIFECYCLE.states if s not in IMAGE_LIFECYCLE.final]
        states, values = status_condition(running)
        return self._write(key, states, values, version, fields)

    def _write(
        self, key: str, states: str, values: dict[str, Any], version: str | None, fields: dict[str, Any]
    ) -> ImageRecord | None:
        unknown = sorted((set(fields) - set(ImageRecord.model_fields)) | (set(fields) & {"key", "created_at"}))
        if unknown:
            raise ValueError(f"not image record fields that can be updated: {unknown}")
        names = {"#k": "key", "#s": "status"}
        values = {**values}
        parts = []
        for i, (name, value) in enumerate({**fields, "updated_at": now_iso()}.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = _encode(name, value)
            parts.append(f"#f{i} = :f{i}")
        condition = f"attribute_exists(#k) AND {states}"
        if version is not None:
            condition += " AND version_tag = :version"
            values[":version"] = {"S": version}
        item = conditional_update(
            self._db,
            TableName=self.table,
            Key={"key": {"S": key}},
            UpdateExpression="SET " + ", ".join(parts),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return _from_item(item) if item is not None else None


def version_tag(image: Mapping[str, Any]) -> str:
    """Which version of the object a record (or an execution's `image`) is about."""
    return str(image.get("version_id") or image.get("etag") or "unversioned")


def _encode(name: str, value: Any) -> dict[str, Any]:
    return {"S": str(value)} if name in _PLAIN else {"S": json.dumps(value, separators=(",", ":"))}


def _to_item(record: ImageRecord) -> dict[str, Any]:
    doc = record.model_dump(mode="json")
    item = {name: _encode(name, value) for name, value in doc.items()}
    item["version_tag"] = {"S": version_tag(doc)}
    return item


def _from_item(item: dict[str, Any]) -> ImageRecord:
    raw = {name: v["S"] if name in _PLAIN else json.loads(v["S"]) for name, v in item.items() if "S" in v}
    raw.pop("version_tag", None)
    return ImageRecord.model_validate(raw)
