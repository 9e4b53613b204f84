"""The social table: content, follows, feeds, engagement events and the trending lists.

Keys `pk`/`sk`:

    content#<id>     content          author_id, text, updated_at, indexed_at, deleted
    followers#<uid>  <follower id>    one follow (who follows uid)
    feed#<uid>       <at>#<post id>   one feed item (fan-out on write)
    event#<day>      <at>#<event id>  one engagement event: content_id, kind (partitioned by UTC day)
    trending         latest | <at>    the top items with their scores
    fanout#<job id>  cursor           where a feed fan-out job got to (its resume point)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from offload.ddb_items import batch_put, from_item, read_all, to_item


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class SocialStore:
    def __init__(self, db: Any, table: str) -> None:
        self.db = db
        self.table = table

    def put(self, row: dict[str, Any]) -> None:
        self.db.put_item(TableName=self.table, Item=to_item(row))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.db.get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get(
            "Item"
        )
        return from_item(item) if item else None

    def put_many(self, rows: list[dict[str, Any]], *, what: str) -> int:
        """BatchWriteItem, 25 at a time, UnprocessedItems retried; the number of calls made."""
        return batch_put(self.db, self.table, [to_item(r) for r in rows], what=what)

    def page(
        self, pk: str, *, limit: int, start_after: str | None = None, forward: bool = True
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a partition in sort-key order after `start_after`; the rows and the last sort key read
        when there may be more (None at the end)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
            "Limit": limit,
            "ScanIndexForward": forward,
        }
        if start_after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": start_after}}
        resp = self.db.query(**kwargs)
        rows = [from_item(i) for i in resp.get("Items", [])]
        more = resp.get("LastEvaluatedKey")
        return rows, (more["sk"]["S"] if more else None)

    def all(self, pk: str) -> list[dict[str, Any]]:
        """Every row of a partition."""
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
        }
        return read_all(self.db.query, **request)

    # -- the things the jobs and the CLI write --------------------------------------------------

    def add_content(self, content_id: str, author_id: str, text: str, *, deleted: bool = False) -> None:
        self.put(
            {
                "pk": f"content#{content_id}",
                "sk": "content",
                "content_id": content_id,
                "author_id": author_id,
                "text": text,
                "deleted": deleted,
                "updated_at": now_iso(),
            }
        )

    def add_followers(self, author_id: str, follower_ids: list[str]) -> None:
        at = now_iso()
        self.put_many([{"pk": f"followers#{author_id}", "sk": f, "at": at} for f in follower_ids], what="follows")

    def record_events(self, events: list[tuple[str, str, datetime]]) -> None:
        """(content id, kind, when) engagement events."""
        self.put_many(
            [
                {
                    "pk": f"event#{at.astimezone(UTC).date().isoformat()}",
                    "sk": f"{at.astimezone(UTC).isoformat()}#{uuid.uuid4().hex[:12]}",
                    "content_id": content_id,
                    "kind": kind,
                    "at": at.astimezone(UTC).isoformat(),
                }
                for content_id, kind, at in events
            ],
            what="engagement events",
        )

    def events_since(self, now: datetime, days: int) -> list[dict[str, Any]]:
        """Every engagement event of the last `days` UTC days (one Query per day's partition)."""
        rows: list[dict[str, Any]] = []
        for back in range(days + 1):
            rows.extend(self.all(f"event#{(now - timedelta(days=back)).date().isoformat()}"))
        return rows

    def feed(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """A user's newest feed items first."""
        return self.page(f"feed#{user_id}", limit=limit, forward=False)[0]

    def changed_content(self) -> list[dict[str, Any]]:
        """Content whose text changed since it was last indexed (or was never indexed)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :c AND (attribute_not_exists(indexed_at) OR indexed_at < updated_at)",
            "ExpressionAttributeValues": {":c": {"S": "content"}},
            "ConsistentRead": True,
        }
        return read_all(self.db.scan, **kwargs)

    def mark_indexed(self, content_id: str, updated_at: str) -> bool:
        """Mark content indexed as of `updated_at`, unless it changed again meanwhile (then False)."""
        from botocore.exceptions import ClientError

        try:
            self.db.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"content#{content_id}"}, "sk": {"S": "content"}},
                UpdateExpression="SET indexed_at = :u",
                ConditionExpression="updated_at = :u",
                ExpressionAttributeValues={":u": {"S": updated_at}},
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
