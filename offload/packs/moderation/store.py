"""Moderation records: one per moderated item (`image:<key>`, `video:<key>`, `text:<id>`), with its history.

State `pending -> approved | flagged`, then a reviewer's (or an appeal's) `approved | rejected`, and
reports may escalate an approved item to `flagged`. Every change is one conditional DynamoDB update whose
condition comes from MODERATION_LIFECYCLE (`offload.lifecycle`) and that appends its entry to `history`
in the same write, so the history is exactly the changes that happened. Reporters are a string set
(`ADD`), so the same user reporting twice counts once.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from offload.jobs.model import now_iso
from offload.lifecycle import Lifecycle, conditional_update, status_condition

ModerationState = Literal["pending", "approved", "flagged", "rejected"]
ItemKind = Literal["text", "image", "video"]
MODERATION_LIFECYCLE: Lifecycle[ModerationState] = Lifecycle(
    {
        "pending": {"approved", "flagged"},
        # Approved content may be re-moderated (a new upload), escalated by reports, or rejected by a reviewer.
        "approved": {"approved", "flagged", "rejected"},
        "flagged": {"flagged", "approved", "rejected"},
        # A rejection stands until a human approves it (an appeal); a machine never moves it.
        "rejected": {"approved", "rejected"},
    }
)
# What a machine verdict (a moderate.* job or pipeline step) may overwrite: never a human decision.
MACHINE_SOURCES: tuple[ModerationState, ...] = ("pending", "approved", "flagged")
_PLAIN = ("key", "status")


class ModerationRecord(BaseModel):
    """A moderated item: its state, the latest verdict and scores, reports and every decision."""

    key: str
    kind: ItemKind
    status: ModerationState
    target: str | None = Field(default=None, description="the media key for images and videos")
    verdict: str | None = Field(default=None, description="the latest machine verdict: approved, flagged, unchecked")
    reason: str | None = None
    over: dict[str, float] = Field(default_factory=dict)
    results: list[dict[str, Any]] = Field(default_factory=list)
    excerpt: str | None = Field(default=None, description="the first characters of a moderated text")
    reporters: list[str] = Field(default_factory=list)
    reports: list[dict[str, Any]] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str
    updated_at: str

    @property
    def held(self) -> bool:
        return self.status != "approved"


def subject_key(kind: ItemKind, ident: str) -> str:
    """The moderation record key of an item: `image:uploads/images/cat.jpg`, `text:<id>`."""
    return f"{kind}:{ident}"


class ModerationStore:
    """Conditional writes of moderation records in the moderation table (partition key `key`)."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self.table = table

    def get(self, key: str) -> ModerationRecord | None:
        item = self._db.get_item(TableName=self.table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return _from_item(item) if item else None

    def scan(self, *, statuses: tuple[ModerationState, ...] = ()) -> list[ModerationRecord]:
        """Every record (in the given states), oldest change first."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        if statuses:
            condition, values = status_condition(statuses)
            kwargs |= {
                "FilterExpression": condition,
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values,
            }
        out: list[ModerationRecord] = []
        while True:
            page = self._db.scan(**kwargs)
            out.extend(_from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(out, key=lambda r: r.updated_at)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def move(
        self,
        key: str,
        kind: ItemKind,
        status: ModerationState,
        entry: dict[str, Any],
        *,
        sources: tuple[ModerationState, ...] | None = None,
        create: bool = False,
        **fields: Any,
    ) -> ModerationRecord | None:
        """Move `key` to `status`, set `fields` and append `entry` to its history, in one conditional write:
        only from the states MODERATION_LIFECYCLE allows (narrowed to `sources` when given); `create` also
        allows a record that doesn't exist yet. None when the write is refused."""
        allowed = [s for s in MODERATION_LIFECYCLE.sources_of(status) if sources is None or s in sources]
        states, values = status_condition(allowed)
        condition = f"(attribute_not_exists(#k) OR {states})" if create else f"attribute_exists(#k) AND {states}"
        now = now_iso()
        sets = {**fields, "status": status, "updated_at": now}
        names = {"#k": "key", "#s": "status", "#h": "history", "#kind": "kind", "#c": "created_at"}
        parts = ["#h = list_append(if_not_exists(#h, :empty), :entry)", "#kind = :kind", "#c = if_not_exists(#c, :now)"]
        values |= {
            ":empty": {"L": []},
            ":entry": {"L": [_json({**entry, "status": status, "at": now})]},
            ":kind": {"S": json.dumps(kind)},
            ":now": {"S": json.dumps(now)},
        }
        for i, (name, value) in enumerate(sets.items()):
            if name == "status":
                parts.append(f"#s = :f{i}")
            else:
                names[f"#f{i}"] = name
                parts.append(f"#f{i} = :f{i}")
            values[f":f{i}"] = {"S": value} if name in _PLAIN else _json(value)
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

    def add_report(self, key: str, kind: ItemKind, report: dict[str, Any], *, target: str | None) -> ModerationRecord:
        """Add a user's report (once per reporter in the count); an item never moderated starts `pending`."""
        now = now_iso()
        item = self._db.update_item(
            TableName=self.table,
            Key={"key": {"S": key}},
            UpdateExpression=(
                "ADD reporters :who SET #r = list_append(if_not_exists(#r, :empty), :report), "
                "#s = if_not_exists(#s, :pending), #kind = if_not_exists(#kind, :kind), "
                "#t = if_not_exists(#t, :target), #c = if_not_exists(#c, :now), #u = :now"
            ),
            ExpressionAttributeNames={
                "#r": "reports",
                "#s": "status",
                "#kind": "kind",
                "#t": "target",
                "#c": "created_at",
                "#u": "updated_at",
            },
            ExpressionAttributeValues={
                ":who": {"SS": [report["reporter"]]},
                ":empty": {"L": []},
                ":report": {"L": [_json({**report, "at": now})]},
                ":pending": {"S": "pending"},
                ":kind": {"S": json.dumps(kind)},
                ":target": _json(target),
                ":now": {"S": json.dumps(now)},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _from_item(item)


def _json(value: Any) -> dict[str, Any]:
    return {"S": json.dumps(value, separators=(",", ":"))}


def _from_item(item: dict[str, Any]) -> ModerationRecord:
    raw: dict[str, Any] = {}
    for name, value in item.items():
        if "SS" in value:
            raw[name] = sorted(value["SS"])
        elif "L" in value:
            raw[name] = [json.loads(e["S"]) for e in value["L"]]
        elif "S" in value:
            raw[name] = value["S"] if name in _PLAIN else json.loads(value["S"])
    return ModerationRecord.model_validate(raw)
