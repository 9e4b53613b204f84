"""The moderation pack's job processors: validate the data, one call into `service.Moderation`, the result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from offload.ai.openai_moderation import MAX_TEXT_CHARS
from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.packs.moderation.service import Moderation, ModerationError
from offload.packs.moderation.store import ModerationRecord

_ID = r"^[A-Za-z0-9._:/@+-]{1,200}$"


class TextData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    id: str | None = Field(default=None, pattern=_ID, description="the record is text:<id> (default: a hash)")


class ImageData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=1024, description="the image's key in the media bucket")
    version_id: str | None = None


class VideoData(ImageData):
    frames: int | None = Field(default=None, ge=1, le=50, description="frames to sample (the pack's default)")


class ReportData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, description="image:<key>, video:<key>, text:<id> or an upload key")
    reporter: str = Field(min_length=1, max_length=200, description="who reports it (a user id)")
    reason: str = Field(min_length=1, max_length=2000)


class AppealData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1)
    decision: Literal["approve", "reject"]
    reviewer: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)


def _summary(record: ModerationRecord) -> dict[str, Any]:
    return {
        "subject": record.key,
        "status": record.status,
        "verdict": record.verdict,
        "reason": record.reason,
        "over": record.over,
    }


def moderate_text(data: TextData, ctx: JobContext) -> dict[str, Any]:
    """`moderate.text`."""
    return _summary(Moderation(ctx.runtime).text(data.text, data.id))


def moderate_image(data: ImageData, ctx: JobContext) -> dict[str, Any]:
    """`moderate.image`."""
    return _summary(Moderation(ctx.runtime).image_object(data.key, data.version_id))


def moderate_video(data: VideoData, ctx: JobContext) -> dict[str, Any]:
    """`moderate.video`: sampled frames."""
    record = Moderation(ctx.runtime).video_object(data.key, data.frames, data.version_id)
    return {**_summary(record), "frames": len(record.results)}


def report(data: ReportData, ctx: JobContext) -> dict[str, Any]:
    """`moderation.report`."""
    try:
        record, escalated = Moderation(ctx.runtime).report(data.subject, data.reporter, data.reason)
    except ModerationError as exc:
        raise NonRetryableError(str(exc)) from None
    return {**_summary(record), "reporters": len(record.reporters), "escalated": escalated}


def appeal(data: AppealData, ctx: JobContext) -> dict[str, Any]:
    """`moderation.appeal`: the human decision on an appeal."""
    try:
        record = Moderation(ctx.runtime).human_decision(
            data.subject, data.decision, by=data.reviewer, note=data.note, action="appeal"
        )
    except ModerationError as exc:
        raise NonRetryableError(str(exc)) from None
    return _summary(record)
