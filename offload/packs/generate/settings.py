"""What the generate pack's construct provisions, as workers and clients see it (`Settings.packs["generate"]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from offload.runtime import Runtime

PACK = "generate"


class GenerateSettings(BaseModel):
    media_bucket: str = Field(description="bucket of scene images, clips and the merged video")
    generations_table: str = Field(description="DynamoDB table of generation records (one per job)")
    pipeline_arn: str | None = Field(default=None, description="the generation state machine")
    options: dict[str, Any] = Field(default_factory=dict, description="GenerateOptions of the catalog's pack")


def generate_settings(rt: Runtime) -> GenerateSettings:
    """The generate pack's settings of this deployment, or a SettingsError saying it isn't deployed."""
    return rt.settings.pack(PACK, GenerateSettings)
