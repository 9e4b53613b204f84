"""The job record, its lifecycle, and the SQS message that points at it."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from offload.catalog import Backoff
from offload.lifecycle import Lifecycle


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Completed, failed and cancelled jobs never run again on their own."""
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# The only moves the store allows; each store write is conditional on its source states.
# FAILED -> QUEUED exists only for an operator's explicit retry (`offload jobs retry`).
JOB_LIFECYCLE: Lifecycle[JobStatus] = Lifecycle(
    {
        JobStatus.QUEUED: {JobStatus.ACTIVE, JobStatus.CANCELLED, JobStatus.FAILED},
        JobStatus.DELAYED: {JobStatus.ACTIVE, JobStatus.CANCELLED, JobStatus.FAILED},
        JobStatus.ACTIVE: {
            JobStatus.ACTIVE,
            JobStatus.DELAYED,
            JobStatus.COMPLETED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
        },
        JobStatus.FAILED: {JobStatus.QUEUED},
        JobStatus.COMPLETED: set(),
        JobStatus.CANCELLED: set(),
    }
)
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = JOB_LIFECYCLE.transitions


def sources_of(target: JobStatus) -> list[JobStatus]:
    """The states a job may be in for a write that moves it to `target`."""
    return JOB_LIFECYCLE.sources_of(target)


# Bounds on what a record can hold, so no write can take it near DynamoDB's 400 KB item
# limit: data and results above `Settings.large_data_bytes` (64 KiB) go to S3, an error's
# reason keeps its head and tail, and the attempt history keeps the latest entries.
MAX_REASON_CHARS = 4000
HISTORY_LIMIT = 10
HISTORY_REASON_CHARS = 1000


def shorten(text: str, limit: int) -> str:
    """`text` if it fits `limit` characters, else its head and tail around a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    marker = f" [... {len(text) - limit} characters cut ...] "
    keep = max(0, limit - len(marker))
    head = keep * 3 // 4
    return text[:head] + marker + text[len(text) - (keep - head) :]


class JobErrorInfo(BaseModel):
    """Why a job (or one attempt of it) failed: which step, and what happened."""

    step: str
    reason: str
    kind: str = "error"
    attempt: int = 0
    at: str = ""

    def bounded(self, limit: int = MAX_REASON_CHARS) -> JobErrorInfo:
        """This error with its reason shortened to `limit` characters (head and tail kept)."""
        return self.model_copy(update={"reason": shorten(self.reason, limit), "step": shorten(self.step, 100)})


class Job(BaseModel):
    """One job record as stored in the jobs table."""

    job_id: str
    type: str
    queue: str
    status: JobStatus
    progress: int = 0
    attempts: int = 0
    deferrals: int = 0  # times a rate limit sent it back without using an attempt (store.defer)
    max_attempts: int
    backoff: dict[str, Any]
    timeout_s: int
    priority: int = 5
    data: Any = None
    data_ref: str | None = None
    result: Any = None
    result_ref: str | None = None
    error: JobErrorInfo | None = None
    history: list[JobErrorInfo] = Field(default_factory=list)  # earlier failed attempts, oldest first
    idempotency_key: str | None = None
    webhook_url: str | None = None
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    run_at: str | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    execution_arn: str | None = None  # a state machine execution carries the job on (offload.jobs.handoff)
    expires_at: int | None = None

    @property
    def backoff_policy(self) -> Backoff:
        """The stored backoff as the catalog type."""
        return Backoff(**self.backoff)

    def summary(self) -> dict[str, Any]:
        """The fields clients poll for: status, progress, result, error."""
        return self.model_dump(
            mode="json",
            include={
                "job_id",
                "type",
                "queue",
                "status",
                "progress",
                "attempts",
                "max_attempts",
                "result",
                "result_ref",
                "error",
                "history",
                "created_at",
                "started_at",
                "finished_at",
            },
        )


class JobMessage(BaseModel):
    """The SQS body: ids only; the job record holds the data."""

    v: int = 1
    job_id: str
    type: str = Field(min_length=1)
    # A delay beyond SQS's 15 minutes: re-sent until this Unix time (finite: Infinity would loop).
    not_before: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("job_id")
    @classmethod
    def _job_id_shape(cls, value: str) -> str:
        return check_job_id(value)


class ForeignMessage(BaseModel):
    """A body sent straight to a queue by another system: a type and its data, no job record yet."""

    type: str
    data: Any = Field(default_factory=dict)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job_id() -> str:
    """A time-ordered id: 12 hex digits of milliseconds, then 16 random ones."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def idempotent_job_id(type_name: str, key: str) -> str:
    """The id every enqueue with this type and idempotency key maps to."""
    digest = hashlib.sha256(f"{type_name}\0{key}".encode()).hexdigest()
    return f"idem-{digest[:32]}"


# Every id offload makes matches this: 28 hex digits (new_job_id), `idem-` + 32 hex digits, or
# `sqs-`/`msg-` + an SQS message id. The bound keeps an id far inside DynamoDB's key limits.
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
JOB_ID_EXAMPLE = "01a2b3c4d5e6f708192a3b4c5d6e (from `offload jobs add` or `offload jobs list`)"


class InvalidJobIdError(ValueError):
    """A string that can't be a job id; the message says what is wrong and what an id looks like."""


def check_job_id(job_id: str) -> str:
    """The id unchanged, or InvalidJobIdError saying what is wrong with it."""
    if JOB_ID_PATTERN.fullmatch(job_id):
        return job_id
    if not job_id.strip():
        problem = "it is empty"
    elif len(job_id) > 128:
        problem = f"it is {len(job_id)} characters long (at most 128)"
    elif bad := sorted({c for c in job_id if not re.fullmatch(r"[A-Za-z0-9_.:-]", c)}):
        problem = f"it has characters a job id never has: {' '.join(repr(c) for c in bad)}"
    else:
        problem = f"it starts with {job_id[0]!r}"
    raise InvalidJobIdError(
        f"{job_id[:40]!r} is not a job id: {problem}; a job id is 1-128 letters, digits, '-', '_', '.' or ':', "
        f"starting with a letter or digit, e.g. {JOB_ID_EXAMPLE}"
    )


def to_json(value: Any) -> str:
    """Compact JSON; raises TypeError naming what could not be encoded."""
    return json.dumps(value, separators=(",", ":"), default=_unencodable)


def _unencodable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable: {value!r:.80}")
