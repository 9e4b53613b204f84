"""The API's request bodies: validated by the resolver, so a bad one is a 422 naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from offload.jobs.enqueue import MAX_DELAY_S, MAX_IDEMPOTENCY_KEY_CHARS, MAX_WEBHOOK_URL_CHARS

MAX_BATCH = 100


class _JobOptions(BaseModel):
    """What a single job and a batch both accept: when to start, priority, attempts."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, description="a job type of the catalog, e.g. 'http.fetch'")
    delay_s: float | None = Field(default=None, ge=0, le=MAX_DELAY_S, description="start no sooner than this")
    run_at: datetime | None = Field(default=None, description="start no sooner than this instant (with a zone)")
    priority: int | None = Field(default=None, ge=0, description="higher runs sooner (its lane); default: the type's")
    attempts: int | None = Field(default=None, ge=1, description="override the type's attempts")

    def enqueue_options(self) -> dict[str, Any]:
        """The keyword arguments enqueue() and enqueue_many() take for these fields."""
        delay = None if self.delay_s is None else timedelta(seconds=self.delay_s)
        return {"delay": delay, "run_at": self.run_at, "priority": self.priority, "attempts": self.attempts}


class EnqueueRequest(_JobOptions):
    """`POST /jobs`: one job of a catalog type."""

    data: Any = Field(default=None, description="the job's data, checked against its type's payload model")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS)
    webhook_url: str | None = Field(default=None, max_length=MAX_WEBHOOK_URL_CHARS)


class BatchRequest(_JobOptions):
    """`POST /jobs/batch`: up to 100 jobs of one type, with one delay and priority."""

    items: list[Any] = Field(min_length=1, max_length=MAX_BATCH, description="each job's data")


class UploadRequest(BaseModel):
    """`POST /uploads`: what the client is about to upload."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image", "video", "audio"]
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(pattern=r"^[a-z]+/[A-Za-z0-9.+-]+$", examples=["image/jpeg"])
    bytes: int = Field(gt=0, description="the file's exact size; the upload must be this size")
