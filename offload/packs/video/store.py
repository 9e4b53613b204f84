"""Video records: one per upload key (videos, audio files and live streams), status pending ->
processing -> completed | failed | cancelled, with progress per stage and every output.

How records are written (one conditional update per change) is `offload.media.records`; the
`updated_at` and `status` attributes are plain strings so the table's `by-status` index sorts them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from offload.media.records import MediaStatus, MediaStore

VideoKind = Literal["video", "audio", "live"]
# The stages a video goes through, in order, as the record's `progress` reports them.
STAGES = ("probe", "plan", "transcode", "join", "package")
STATUS_INDEX = "by-status"


def create_table_request(name: str) -> dict[str, Any]:
    """DynamoDB CreateTable arguments for a videos table: the one shape the construct and test stacks share."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "key", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


class VideoRecord(BaseModel):
    """What a client polls for an upload under uploads/videos/, uploads/audio/ or uploads/live/."""

    key: str
    bucket: str
    status: MediaStatus
    kind: VideoKind = "video"
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    stage: str | None = None
    facts: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    segments_total: int = 0
    segments_done: int = 0  # a counter each transcode task adds to (MediaStore.increment)
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    execution_arn: str | None = None
    error: dict[str, str] | None = None
    # The moderation pack's state of this upload ({status, reason, at}), when the pack is in the catalog.
    moderation: dict[str, Any] | None = None
    # A live stream's segments that failed ({seq, key, version, step, reason, at}), added by
    # MediaStore.append; the stream goes on without them.
    errors: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str
    updated_at: str

    @property
    def progress(self) -> dict[str, float]:
        """Each stage's completion, 0..1 (transcode from the segments done)."""
        if self.status == "completed":
            return dict.fromkeys(STAGES, 1.0)
        stages = STAGES if self.kind == "video" else ("probe", "transcode", "package")
        current = stages.index(self.stage) if self.stage in stages else -1
        done = {s: 1.0 if i < current else 0.0 for i, s in enumerate(stages)}
        if self.stage == "transcode" and self.segments_total:
            done["transcode"] = round(min(self.segments_done / self.segments_total, 1.0), 3)
        return done


class VideoStore(MediaStore[VideoRecord]):
    """Conditional writes of video records in the videos table (partition key `key`)."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(
            client,
            table,
            VideoRecord,
            plain=("key", "status", "version_tag", "updated_at"),
            counters=("segments_total", "segments_done"),
            lists=("errors",),
        )

    def by_status(self, status: MediaStatus, *, limit: int = 100) -> list[VideoRecord]:
        """Records of one status, most recently updated first (the `by-status` index)."""
        records: list[VideoRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status}},
            "ScanIndexForward": False,
        }
        while len(records) < limit:
            page = self._db.query(**kwargs)
            records.extend(self._from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records[:limit]
