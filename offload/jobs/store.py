"""The job store on DynamoDB: every status change is one conditional write.

The condition on each write is derived from `model.JOB_LIFECYCLE` (`offload.lifecycle`), so a job can never
move backwards, a finished job is never touched by a late or duplicate delivery, and
two workers cannot both start the same job while its lease is held.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from offload.ddb_items import batch_put
from offload.jobs.model import (
    HISTORY_LIMIT,
    HISTORY_REASON_CHARS,
    Job,
    JobErrorInfo,
    JobStatus,
    now_iso,
    sources_of,
    to_json,
)
from offload.jobs.table import BY_QUEUE_STATUS_INDEX as _INDEX
from offload.jobs.table import BY_QUEUE_STATUS_SORT
from offload.lifecycle import conditional_update, is_condition_failure, status_condition

# Fields kept as JSON strings: DynamoDB numbers would come back as Decimal otherwise.
_JSON_FIELDS = ("data", "result", "backoff", "error", "history")


def _queue_status(queue: str, status: JobStatus) -> str:
    return f"{queue}#{status.value}"


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    return {"S": str(value)}


def _to_item(job: Job) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, value in job.model_dump(mode="json").items():
        if value is None:
            continue
        item[name] = {"S": to_json(value)} if name in _JSON_FIELDS else _encode(value)
    item["queue_status"] = {"S": _queue_status(job.queue, job.status)}
    return item


def _from_item(item: dict[str, Any]) -> Job:
    raw: dict[str, Any] = {}
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "N":
            raw[name] = float(value) if "." in value or "e" in value.lower() else int(value)
        elif kind == "BOOL":
            raw[name] = value
        elif name in _JSON_FIELDS:
            raw[name] = json.loads(value)
        else:
            raw[name] = value
    raw.pop("queue_status", None)
    return Job.model_validate(raw)


@dataclass(frozen=True)
class StartOutcome:
    """What happened when a worker tried to start a job."""

    job: Job | None  # the record after the write, or as it stood when the write was refused
    started: bool


class JobStore:
    """Reads and conditional writes of job records."""

    def __init__(self, client: Any, table: str, *, retain_completed_s: int, retain_failed_s: int) -> None:
        self._db = client
        self.table = table
        self.retain_completed_s = retain_completed_s
        self.retain_failed_s = retain_failed_s

    # -- reads -------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        """The job, or None if it never existed or has expired."""
        resp = self._db.get_item(TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        item = resp.get("Item")
        return _from_item(item) if item else None

    def list_jobs(
        self,
        queue: str,
        status: JobStatus,
        *,
        limit: int = 50,
        newest_first: bool = True,
        type_name: str | None = None,
        before: tuple[str, str] | None = None,
        since: str | None = None,
        paged: bool = False,
    ) -> list[Job]:
        """Jobs of one queue in one status, newest first; of one type when `type_name` is given;
        created at or after `since` (ISO 8601) when it is given.

        `paged`: the order pages follow, (created_at, job_id) descending, and every job as old as
        the last one is returned, even past `limit` (the index orders ties arbitrarily), so a page
        cut among them loses none. `before` = the (created_at, job_id) a previous page ended at.
        """
        paged = paged or before is not None
        jobs: list[Job] = []
        values: dict[str, Any] = {":qs": {"S": _queue_status(queue, status)}}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": _INDEX,
            "KeyConditionExpression": "queue_status = :qs",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if before is not None and since is not None:
            kwargs["KeyConditionExpression"] += f" AND {BY_QUEUE_STATUS_SORT} BETWEEN :since AND :before"
            values[":before"] = {"S": before[0]}
            values[":since"] = {"S": since}
        elif before is not None:
            kwargs["KeyConditionExpression"] += f" AND {BY_QUEUE_STATUS_SORT} <= :before"
            values[":before"] = {"S": before[0]}
        elif since is not None:
            kwargs["KeyConditionExpression"] += f" AND {BY_QUEUE_STATUS_SORT} >= :since"
            values[":since"] = {"S": since}
        if type_name is not None:
            kwargs["FilterExpression"] = "#type = :type"
            kwargs["ExpressionAttributeNames"] = {"#type": "type"}
            values[":type"] = {"S": type_name}
        while len(jobs) < limit or (paged and _tie_may_continue(jobs, limit)):
            resp = self._db.query(Limit=max(limit - len(jobs), 10), **kwargs)
            page = [_from_item(i) for i in resp.get("Items", [])]
            if before is not None:
                page = [j for j in page if (j.created_at, j.job_id) < before]
            jobs.extend(page)
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        if not paged:
            return jobs[:limit]
        jobs.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
        return jobs

    def get_many(self, job_ids: list[str]) -> list[Job]:
        """The jobs of these ids that exist, in no particular order (BatchGetItem, 100 keys a call)."""
        jobs: list[Job] = []
        unique = list(dict.fromkeys(job_ids))
        for i in range(0, len(unique), 100):
            pending: dict[str, Any] = {
                self.table: {"Keys": [{"job_id": {"S": j}} for j in unique[i : i + 100]], "ConsistentRead": True}
            }
            for attempt in range(8):
                resp = self._db.batch_get_item(RequestItems=pending)
                jobs.extend(_from_item(item) for item in resp.get("Responses", {}).get(self.table, []))
                pending = resp.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
        return jobs

    def finished_since(self, queue: str, status: JobStatus, since: str) -> list[str]:
        """The `finished_at` of the jobs of one queue and status created at or after `since` (ISO 8601)."""
        stamps: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": _INDEX,
            "KeyConditionExpression": f"queue_status = :qs AND {BY_QUEUE_STATUS_SORT} >= :since",
            "ExpressionAttributeValues": {":qs": {"S": _queue_status(queue, status)}, ":since": {"S": since}},
            "ProjectionExpression": "finished_at",
        }
        while True:
            resp = self._db.query(**kwargs)
            stamps.extend(i["finished_at"]["S"] for i in resp.get("Items", []) if "finished_at" in i)
            if "LastEvaluatedKey" not in resp:
                return stamps
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def created_between(self, queue: str, status: JobStatus, start: str, end: str) -> Iterator[Job]:
        """The jobs of one queue and status created in [start, end) (ISO 8601), oldest first: one index
        query on (queue_status, created_at), so a period's analytics read that period's records only."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": _INDEX,
            "KeyConditionExpression": f"queue_status = :qs AND {BY_QUEUE_STATUS_SORT} BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":qs": {"S": _queue_status(queue, status)},
                ":start": {"S": start},
                ":end": {"S": end},
            },
        }
        while True:
            resp = self._db.query(**kwargs)
            yield from (job for job in map(_from_item, resp.get("Items", [])) if job.created_at < end)
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def count(self, queue: str, status: JobStatus) -> int:
        """How many jobs of one queue are in one status (finished ones until they expire)."""
        total = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": _INDEX,
            "KeyConditionExpression": "queue_status = :qs",
            "ExpressionAttributeValues": {":qs": {"S": _queue_status(queue, status)}},
            "Select": "COUNT",
        }
        while True:
            resp = self._db.query(**kwargs)
            total += resp["Count"]
            if "LastEvaluatedKey" not in resp:
                return total
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- writes ------------------------------------------------------------------------
    def create(self, job: Job) -> tuple[Job, bool]:
        """Insert a new job; if its id exists and has not expired, return that one instead."""
        try:
            self._db.put_item(
                TableName=self.table,
                Item=_to_item(job),
                ConditionExpression="attribute_not_exists(job_id) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return job, True
        except ClientError as exc:
            old = _refused_item(exc)
            if old is None:
                raise
            return _from_item(old), False

    def replace_failed(self, job: Job) -> Job | None:
        """Write a new record over a failed one with the same id (a redriven message that can now
        be used); None if the record is no longer failed."""
        try:
            self._db.put_item(
                TableName=self.table,
                Item=_to_item(job),
                ConditionExpression="#s = :failed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":failed": {"S": JobStatus.FAILED.value}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return job

    def create_many(self, jobs: list[Job]) -> None:
        """Insert new jobs (fresh random ids) in batches of 25; unprocessed items are retried."""
        batch_put(self._db, self.table, [_to_item(j) for j in jobs], what="job records")

    def start(self, job_id: str, queue: str, *, lease_s: float, now: float | None = None) -> StartOutcome:
        """Mark the job active and count the attempt, unless it is finished, cancelled,
        out of attempts, or leased by a live worker."""
        now = time.time() if now is None else now
        waiting_states: list[JobStatus] = [s for s in sources_of(JobStatus.ACTIVE) if s != JobStatus.ACTIVE]
        waiting, values = status_condition(waiting_states)
        values.update(
            {
                ":active": {"S": JobStatus.ACTIVE.value},
                ":now": {"N": repr(now)},
                ":lease": {"N": repr(now + lease_s)},
                ":ts": {"S": now_iso()},
                ":one": {"N": "1"},
                ":false": {"BOOL": False},
            }
        )
        try:
            resp = self._db.update_item(
                TableName=self.table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=(
                    "SET #s = :active, queue_status = :qs, lease_until = :lease, started_at = :ts, updated_at = :ts "
                    "ADD attempts :one"
                ),
                ConditionExpression=(
                    "attribute_exists(job_id) AND attempts < max_attempts "
                    "AND (attribute_not_exists(cancel_requested) OR cancel_requested = :false) "
                    f"AND ({waiting} OR (#s = :active AND lease_until < :now))"
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={**values, ":qs": {"S": _queue_status(queue, JobStatus.ACTIVE)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            old = _refused_item(exc)
            return StartOutcome(job=_from_item(old) if old else None, started=False)
        return StartOutcome(job=_from_item(resp["Attributes"]), started=True)

    def set_progress(self, job_id: str, progress: int) -> Job | None:
        """Record progress of an active job; returns the record (it carries cancel_requested)."""
        return self._update(job_id, None, sets={"progress": progress}, allowed=[JobStatus.ACTIVE])

    def complete(self, job: Job, result: Any, result_ref: str | None = None) -> Job | None:
        """active -> completed, with the result, or with `result_ref` (its S3 URI) when it was too
        large for the record; expires after the completed retention."""
        sets: dict[str, Any] = {"result_ref": result_ref} if result_ref else {"result": result}
        return self._finish(job, JobStatus.COMPLETED, {**sets, "progress": 100}, self.retain_completed_s)

    def fail(self, job: Job, error: JobErrorInfo) -> Job | None:
        """-> failed, with the error (its reason bounded); expires after the failed retention."""
        sets = _error_fields(job, error)
        return self._finish(job, JobStatus.FAILED, sets, self.retain_failed_s)

    def cancel(self, job: Job, allowed: list[JobStatus] | None = None) -> Job | None:
        """-> cancelled: a waiting job, or an active one whose processor stopped on request."""
        return self._finish(job, JobStatus.CANCELLED, {}, self.retain_failed_s, allowed=allowed)

    def hand_off(self, job: Job, execution_arn: str, *, lease_s: float) -> Job | None:
        """An active job goes on in `execution_arn`: it stays active, leased for the execution's time."""
        sets = {"execution_arn": execution_arn, "lease_until": time.time() + lease_s}
        return self._update(job.job_id, None, sets=sets, allowed=[JobStatus.ACTIVE])

    def request_cancel(self, job_id: str) -> Job | None:
        """Flag an active job; its processor sees the flag at its next progress update."""
        return self._update(job_id, None, sets={"cancel_requested": True}, allowed=[JobStatus.ACTIVE])

    def wait_retry(self, job: Job, error: JobErrorInfo) -> Job | None:
        """active -> delayed: the attempt failed and a retry is scheduled."""
        return self._update(
            job.job_id, job.queue, target=JobStatus.DELAYED, sets=_error_fields(job, error), removes=["lease_until"]
        )

    def defer(self, job: Job) -> Job | None:
        """active -> delayed, giving back the attempt that start() counted (rate limited, not failed),
        and counting the deferral (the daily analytics report them)."""
        return self._update(
            job.job_id,
            job.queue,
            target=JobStatus.DELAYED,
            sets={},
            removes=["lease_until"],
            add_attempts=-1,
            add_deferrals=1,
        )

    def requeue(self, job: Job) -> Job | None:
        """failed -> queued for an operator's retry: attempts start again from zero; the attempt
        history stays."""
        return self._update(
            job.job_id,
            job.queue,
            target=JobStatus.QUEUED,
            sets={"attempts": 0, "progress": 0, "cancel_requested": False},
            removes=[
                "error",
                "result",
                "result_ref",
                "finished_at",
                "expires_at",
                "lease_until",
                "started_at",
                "execution_arn",
            ],
        )

    # -- helpers -----------------------------------------------------------------------
    def _finish(
        self,
        job: Job,
        target: JobStatus,
        sets: dict[str, Any],
        retain_s: int,
        allowed: list[JobStatus] | None = None,
    ) -> Job | None:
        now = time.time()
        return self._update(
            job.job_id,
            job.queue,
            target=target,
            sets={**sets, "finished_at": now_iso(), "expires_at": int(now + retain_s)},
            removes=["lease_until"],
            allowed=allowed,
        )

    def _update(
        self,
        job_id: str,
        queue: str | None,
        *,
        target: JobStatus | None = None,
        sets: dict[str, Any],
        removes: list[str] | None = None,
        allowed: list[JobStatus] | None = None,
        add_attempts: int = 0,
        add_deferrals: int = 0,
    ) -> Job | None:
        """One conditional update; None when the job is missing or not in an allowed state.

        `allowed` defaults to the states JOB_LIFECYCLE lets move to `target`. A status change
        also rewrites queue_status (the GSI key), which is why the caller passes the queue.
        """
        if not allowed:
            allowed = sources_of(target) if target else []
        names = {"#s": "status"}
        states, status_values = status_condition(allowed)
        values: dict[str, Any] = {**status_values, ":ts": {"S": now_iso()}}
        set_parts = ["updated_at = :ts"]
        if target is not None:
            if queue is None:
                raise ValueError("a status change needs the job's queue")
            set_parts += ["#s = :target", "queue_status = :qs"]
            values[":target"] = {"S": target.value}
            values[":qs"] = {"S": _queue_status(queue, target)}
        for i, (name, value) in enumerate(sets.items()):
            names[f"#f{i}"] = name
            values[f":v{i}"] = {"S": to_json(value)} if name in _JSON_FIELDS else _encode(value)
            set_parts.append(f"#f{i} = :v{i}")
        expr = "SET " + ", ".join(set_parts)
        adds = []
        if add_attempts:
            values[":inc"] = {"N": str(add_attempts)}
            adds.append("attempts :inc")
        if add_deferrals:
            values[":deferred"] = {"N": str(add_deferrals)}
            adds.append("deferrals :deferred")
        if adds:
            expr += " ADD " + ", ".join(adds)
        if removes:
            # Placeholders: several field names (error, result, ...) are DynamoDB reserved words.
            names.update({f"#r{i}": name for i, name in enumerate(removes)})
            expr += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
        item = conditional_update(
            self._db,
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression=expr,
            ConditionExpression=f"attribute_exists(job_id) AND {states}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return _from_item(item) if item is not None else None


def _tie_may_continue(jobs: list[Job], limit: int) -> bool:
    """More jobs as old as the limit-th one may follow (the index orders ties arbitrarily)."""
    return len(jobs) >= limit and jobs[-1].created_at == jobs[limit - 1].created_at


def _error_fields(job: Job, error: JobErrorInfo) -> dict[str, Any]:
    """The bounded error, and the attempt history with it appended (the latest HISTORY_LIMIT kept)."""
    history = [*job.history, error.bounded(HISTORY_REASON_CHARS)][-HISTORY_LIMIT:]
    return {"error": error.bounded().model_dump(), "history": [h.model_dump() for h in history]}


def _refused_item(exc: ClientError) -> dict[str, Any] | None:
    """The item as it stood when a conditional write was refused (None if it did not exist)."""
    if not is_condition_failure(exc):
        return None
    return exc.response.get("Item")
