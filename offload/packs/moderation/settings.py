"""What the moderation pack's construct provisions, as workers and clients see it (`Settings.packs["moderation"]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from offload.runtime import Runtime

PACK = "moderation"


class ModerationSettings(BaseModel):
    moderation_table: str = Field(description="DynamoDB table of moderation records (one per moderated item)")
    media_bucket: str | None = Field(default=None, description="the media bucket moderate.image/.video read from")
    ai_key_secret_arn: str | None = Field(default=None, description="the stack's AI key secret, when configured")
    options: dict[str, Any] = Field(default_factory=dict, description="ModerationOptions of the catalog's pack")


def moderation_settings(rt: Runtime) -> ModerationSettings:
    """The moderation pack's settings of this deployment, or a SettingsError saying it isn't deployed."""
    return rt.settings.pack(PACK, ModerationSettings)
