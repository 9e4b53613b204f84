"""Generation records: one per `video.generate` job (key = the job id), seed 002's fields.

A record is a media record (`offload.media.records.MediaStore`): each run of the job (the first, and
each `offload jobs retry`) registers it again as a new "version" (`run-<n>`), so a stale execution can't
write over a newer run. What each scene has made lives next to its outputs in S3
(`generated/<job>/clips/<n>.json`), so a retry skips the finished scenes whatever the record says.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from offload.media.records import MediaStatus, MediaStore


class GenerationRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str  # the job id
    bucket: str
    status: MediaStatus
    version_id: str | None = None  # run-<n>
    etag: str | None = None
    size: int | None = None
    created_at: str
    updated_at: str
    execution_arn: str | None = None
    user_id: str | None = None
    provider: str
    model: str | None = None
    prompt: str | None = None
    style: str | None = None
    stage: str = "script"
    scenes_total: int | None = None
    clips_done: int = 0
    error: dict[str, Any] | None = None  # {step, reason, scene?}
    error_message: str | None = None  # seed 002's field: the reason alone
    video_key: str | None = None
    outputs: dict[str, Any] | None = None
    cost_usd: float | None = None
    completed_at: str | None = None


class GenerationStore(MediaStore[GenerationRecord]):
    def __init__(self, client: Any, table: str) -> None:
        super().__init__(client, table, GenerationRecord, counters=("clips_done",))
