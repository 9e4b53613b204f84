"""What the video pack's construct provisions, as the workers and clients see it (`Settings.packs["video"]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from offload.runtime import Runtime

PACK = "video"


class VideoSettings(BaseModel):
    """The media bucket, the video records, the state machine and the pack's options."""

    media_bucket: str = Field(description="bucket whose uploads/videos/, audio/ and live/ feed the pipeline")
    videos_table: str = Field(description="DynamoDB table of video, audio and live-stream records")
    pipeline_arn: str | None = Field(default=None, description="the video pipeline state machine")
    options: dict[str, Any] = Field(default_factory=dict, description="VideoOptions of the catalog's video pack")
    scratch_mb: int = Field(default=512, description="ephemeral storage of the transcode function")


def video_settings(rt: Runtime) -> VideoSettings:
    """The video pack's settings of this deployment, or a SettingsError saying it isn't deployed."""
    return rt.settings.pack(PACK, VideoSettings)
