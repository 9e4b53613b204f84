"""Media records: one per upload key, status pending -> processing -> completed | failed | cancelled.

The one home of what the image and video packs share about their records:
- `MediaStore`: every status change is one conditional DynamoDB update whose condition comes from
  MEDIA_LIFECYCLE (`offload.lifecycle`) and, when given, the object version the caller works on.
  Each field is its own attribute (JSON text; a list named in `lists` is a native list of JSON
  texts, so `append` can add to it atomically), so an update sets only the fields it names;
- `start_pipeline`: how an upload becomes a registered record and one Standard execution per
  object version (a duplicate S3 event does nothing);
- `cancel_record`: how an operator stops one (the execution is stopped, the record ends cancelled).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from offload.jobs.model import now_iso
from offload.lifecycle import Lifecycle, conditional_update, is_condition_failure, status_condition

MediaStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
# A finished record never moves. The one way back to pending is a new version of the object
# (a new upload): `register` replaces the record whatever its status.
MEDIA_LIFECYCLE: Lifecycle[MediaStatus] = Lifecycle(
    {
        "pending": {"processing", "failed", "cancelled"},
        "processing": {"processing", "completed", "failed", "cancelled"},
        "completed": set(),
        "failed": set(),
        "cancelled": set(),
    }
)
RUNNING: tuple[MediaStatus, ...] = tuple(s for s in MEDIA_LIFECYCLE.states if s not in MEDIA_LIFECYCLE.final)

if TYPE_CHECKING:
    from offload.jobs.notify import Alert

R = TypeVar("R", bound=BaseModel)


def version_tag(upload: Mapping[str, Any]) -> str:
    """Which version of the object a record (or an execution's upload) is about."""
    return str(upload.get("version_id") or upload.get("etag") or "unversioned")


def execution_name(prefix: str, upload: Mapping[str, Any]) -> str:
    """One execution per object version: Standard workflows refuse a second run of a name."""
    tag = upload.get("version_id") or upload.get("etag")
    digest = hashlib.sha256(f"{upload['bucket']}/{upload['key']}#{tag}".encode()).hexdigest()
    return f"{prefix}-{digest[:60]}"


class MediaStore(Generic[R]):
    """Conditional writes of one pack's records (`model`) in its table (partition key `key`).

    `plain` names the attributes stored as plain strings (keys, and what conditions and indexes
    compare), `counters` the numbers `increment` adds to (native numbers: DynamoDB's ADD needs
    one), `lists` the list fields `append` adds to (native lists of JSON texts); everything else
    is JSON text."""

    def __init__(
        self,
        client: Any,
        table: str,
        model: type[R],
        *,
        plain: tuple[str, ...] = ("key", "status", "version_tag"),
        counters: tuple[str, ...] = (),
        lists: tuple[str, ...] = (),
    ) -> None:
        self._db = client
        self.table = table
        self.model = model
        self.plain = plain
        self.counters = counters
        self.lists = lists

    def get(self, key: str) -> R | None:
        """The record of an upload key, or None."""
        item = self._db.get_item(TableName=self.table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return self._from_item(item) if item else None

    def register(self, record: R) -> bool:
        """Create the pending record; False when this object version is already registered
        (a duplicate S3 event), True for a new key or a new version of it (which starts again)."""
        try:
            self._db.put_item(
                TableName=self.table,
                Item=self._to_item(record),
                ConditionExpression="attribute_not_exists(#k) OR version_tag <> :v",
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues={":v": {"S": version_tag(record.model_dump())}},
            )
            return True
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise

    def update(self, key: str, status: MediaStatus, *, version: str | None = None, **fields: Any) -> R | None:
        """Move to `status` and set `fields`, in one conditional write: only from the statuses
        MEDIA_LIFECYCLE allows and, when `version` (a `version_tag`) is given, only for that version
        of the object. None when the record is missing or the write is refused."""
        return self._write(key, MEDIA_LIFECYCLE.sources_of(status), version, {**fields, "status": status})

    def annotate(self, key: str, *, version: str | None = None, **fields: Any) -> R | None:
        """Set `fields` of a record that is still running (not final), keeping its status."""
        return self._write(key, RUNNING, version, fields)

    def set_aside(self, key: str, **fields: Any) -> R | None:
        """Set `fields` kept beside the lifecycle (e.g. the moderation state), whatever the record's status:
        a reviewer decides about finished records too. None when the record is missing."""
        return self._write(key, MEDIA_LIFECYCLE.states, None, fields)

    def increment(self, key: str, name: str, *, version: str | None = None, by: int = 1) -> R | None:
        """Add `by` to the counter `name` of a running record (atomic: concurrent tasks each count)."""
        if name not in self.counters:
            raise ValueError(f"{name!r} is not a counter of {self.model.__name__}: counters are {self.counters}")
        return self._conditional(key, RUNNING, version, "ADD #c :by", {"#c": name}, {":by": {"N": str(by)}})

    def append(self, key: str, name: str, value: Any, *, version: str | None = None) -> R | None:
        """Add `value` to the end of the list `name` (one of `lists`) of a running record (atomic:
        concurrent tasks each add theirs)."""
        if name not in self.lists:
            raise ValueError(f"{name!r} is not a list field of {self.model.__name__} (lists: {self.lists})")
        return self._conditional(
            key,
            RUNNING,
            version,
            "SET #l = list_append(if_not_exists(#l, :empty), :item), #u = :now",
            {"#l": name, "#u": "updated_at"},
            {
                ":item": {"L": [self._encode_item(value)]},
                ":empty": {"L": []},
                ":now": self._encode("updated_at", now_iso()),
            },
        )

    def _conditional(
        self,
        key: str,
        statuses: Sequence[str],
        version: str | None,
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> R | None:
        """One UpdateItem `expression` on a record in one of `statuses` (and of that `version`, when
        given): the record after it, or None when it is missing or the condition refuses the write."""
        states, allowed = status_condition(statuses)
        condition = f"attribute_exists(#k) AND {states}"
        values = {**allowed, **values}
        if version is not None:
            condition += " AND version_tag = :version"
            values[":version"] = {"S": version}
        item = conditional_update(
            self._db,
            TableName=self.table,
            Key={"key": {"S": key}},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#k": "key", "#s": "status", **names},
            ExpressionAttributeValues=values,
        )
        return self._from_item(item) if item is not None else None

    def set_once(self, key: str, name: str, value: Any) -> R | None:
        """Set the field `name` of a running record unless it is set already (not None); the record
        as it now is, with whichever value was first. None when the record is missing or final."""
        states, values = status_condition(RUNNING)
        item = conditional_update(
            self._db,
            TableName=self.table,
            Key={"key": {"S": key}},
            UpdateExpression="SET #f = :v",
            ConditionExpression=f"attribute_exists(#k) AND {states} AND (attribute_not_exists(#f) OR #f = :null)",
            ExpressionAttributeNames={"#k": "key", "#s": "status", "#f": name},
            ExpressionAttributeValues={**values, ":v": self._encode(name, value), ":null": self._encode(name, None)},
        )
        if item is not None:
            return self._from_item(item)
        current = self.get(key)
        if current is None or current.model_dump()["status"] not in RUNNING:
            return None
        return current

    def scan(self, *, status: MediaStatus | None = None) -> Iterator[R]:
        """Every record (of one status), in no particular order."""
        cursor: dict[str, Any] | None = None
        while True:
            records, cursor = self.scan_page(cursor, status=status)
            yield from records
            if cursor is None:
                return

    def scan_page(
        self, cursor: dict[str, Any] | None = None, *, status: MediaStatus | None = None, limit: int | None = None
    ) -> tuple[list[R], dict[str, Any] | None]:
        """One page of records (of one status) from `cursor` (None: the start), and the cursor of the next
        page (None: that was the last). The cursor is JSON, so a long job can store it and resume."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        if status is not None:
            kwargs |= {
                "FilterExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": status}},
            }
        if limit is not None:
            kwargs["Limit"] = limit
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = cursor
        page = self._db.scan(**kwargs)
        return [self._from_item(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")

    def _write(self, key: str, statuses: Sequence[str], version: str | None, fields: dict[str, Any]) -> R | None:
        known = set(self.model.model_fields)
        unknown = sorted((set(fields) - known) | (set(fields) & {"key", "created_at"}))
        if unknown:
            raise ValueError(f"not {self.model.__name__} fields that can be updated: {unknown}")
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        parts = []
        for i, (name, value) in enumerate({**fields, "updated_at": now_iso()}.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = self._encode(name, value)
            parts.append(f"#f{i} = :f{i}")
        return self._conditional(key, statuses, version, "SET " + ", ".join(parts), names, values)

    def _encode(self, name: str, value: Any) -> dict[str, Any]:
        if name in self.counters:
            return {"N": str(int(value))}
        if name in self.lists:
            return {"L": [self._encode_item(v) for v in value or []]}
        return {"S": str(value)} if name in self.plain else {"S": json.dumps(value, separators=(",", ":"))}

    @staticmethod
    def _encode_item(value: Any) -> dict[str, Any]:
        return {"S": json.dumps(value, separators=(",", ":"))}

    def _to_item(self, record: R) -> dict[str, Any]:
        doc = record.model_dump(mode="json")
        item = {name: self._encode(name, value) for name, value in doc.items()}
        item["version_tag"] = {"S": version_tag(doc)}
        return item

    def _from_item(self, item: dict[str, Any]) -> R:
        raw: dict[str, Any] = {n: int(v["N"]) for n, v in item.items() if "N" in v}  # counters (`increment`)
        raw |= {name: v["S"] if name in self.plain else json.loads(v["S"]) for name, v in item.items() if "S" in v}
        raw |= {name: [json.loads(e["S"]) for e in v["L"]] for name, v in item.items() if "L" in v}  # `lists`
        raw.pop("version_tag", None)
        return self.model.model_validate(raw)


def new_record(model: type[R], upload: Mapping[str, Any], /, **fields: Any) -> R:
    """The pending record for an upload named by an S3 event."""
    ts = now_iso()
    return model.model_validate(
        {
            "key": upload["key"],
            "bucket": upload["bucket"],
            "status": "pending",
            "version_id": upload.get("version_id"),
            "etag": upload.get("etag"),
            "size": upload.get("size"),
            "created_at": ts,
            "updated_at": ts,
            **fields,
        }
    )


def fail_empty(store: MediaStore[R], record: R, step: str) -> dict[str, Any]:
    """A 0-byte upload: registered and failed at once, without starting an execution."""
    reason = "upload is empty (0 bytes)"
    store.register(record)
    doc = record.model_dump()
    store.update(doc["key"], "failed", version=version_tag(doc), error={"step": step, "reason": reason})
    return {"status": "failed", "reason": reason}


def start_pipeline(
    store: MediaStore[R], record: R, sfn: Any, *, machine_arn: str, name: str, payload: Mapping[str, Any]
) -> dict[str, Any]:
    """Register `record` and start its execution; a duplicate event for the same version does nothing.

    A cancel that lands between registering and starting stops the execution just started."""
    doc = record.model_dump()
    key, version = doc["key"], version_tag(doc)
    if not store.register(record):
        return {"status": "duplicate", "key": key}
    try:
        run = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(dict(payload)))
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"status": "duplicate", "key": key}
    # One conditional write that keeps whatever status the execution's own steps set meanwhile.
    if store.annotate(key, version=version, execution_arn=run["executionArn"]) is None:
        current = store.get(key)
        if current is not None:
            now = current.model_dump()
            if now["status"] == "cancelled" and version_tag(now) == version:
                sfn.stop_execution(executionArn=run["executionArn"], cause="cancelled before it started")
    return {"status": "started", "key": key, "execution_arn": run["executionArn"]}


def failure(state: Mapping[str, Any]) -> tuple[str, str]:
    """(failed step, reason) from a state machine Catch: `$.failed_step` and the error's Cause."""
    error = state.get("error", {})
    try:
        cause = json.loads(error.get("Cause", "{}"))
        reason = cause.get("errorMessage") or error.get("Cause", "")
    except (json.JSONDecodeError, AttributeError):
        reason = str(error.get("Cause", ""))
    step = str(state.get("failed_step", "unknown"))
    return step, str(reason).removeprefix(f"{step}: ") or error.get("Error", "unknown error")


def upload_alert(
    noun: str, pipeline: str, upload: Mapping[str, Any], step: str, reason: str, get_command: str
) -> Alert:
    """The admins' alert for an upload whose pipeline failed (`notify.Alert`); the original is never touched."""
    import shlex

    from offload.jobs.notify import Alert

    key, bucket = upload["key"], upload["bucket"]
    original = f"s3://{bucket}/{key}"
    return Alert(
        subject=f"offload: {noun} {key} failed at {step}",
        what=f"{noun.capitalize()} {key} failed in the {pipeline}. The original is kept in {original}.",
        step=step,
        reason=reason,
        commands=(
            ("Inspect it", f"{get_command} {shlex.quote(key)}"),
            (
                "Retry it (a new version of the object restarts the pipeline)",
                f"aws s3 cp {shlex.quote(original)} - | aws s3 cp - {shlex.quote(original)}",
            ),
        ),
        details={"bucket": bucket, "key": key, "version_id": upload.get("version_id"), "etag": upload.get("etag")},
    )


class CancelError(RuntimeError):
    """The record can't be cancelled; the message says why."""


def cancel_record(store: MediaStore[R], sfn: Any, key: str, *, noun: str, get_command: str) -> R:
    """Stop a pending or running pipeline: the execution is stopped and the record ends `cancelled`."""
    record = store.get(key)
    if record is None:
        raise CancelError(f"no {noun} record for {key!r}")
    doc = record.model_dump()
    if doc["status"] in MEDIA_LIFECYCLE.final:
        raise CancelError(f"{noun} {key!r} is already {doc['status']}; only pending or processing {noun}s stop")
    cancelled = store.update(
        key,
        "cancelled",
        version=version_tag(doc),
        error={"step": doc["status"], "reason": "cancelled by an operator"},
    )
    if cancelled is None:
        raise CancelError(f"{noun} {key!r} changed while cancelling it; check it with `{get_command}`")
    if doc.get("execution_arn"):
        sfn.stop_execution(executionArn=doc["execution_arn"], cause="cancelled by an operator")
    return cancelled
