"""What the social pack's construct provisions (`Settings.packs["social"]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from offload.packs.social.options import SocialOptions

if TYPE_CHECKING:
    from offload.packs.social.store import SocialStore
    from offload.runtime import Runtime

PACK = "social"


class SocialSettings(BaseModel):
    social_table: str = Field(description="DynamoDB table of content, follows, feeds, engagement and trending")
    options: dict[str, Any] = Field(default_factory=dict, description="SocialOptions of the catalog's pack")

    @property
    def chosen(self) -> SocialOptions:
        return SocialOptions.model_validate(self.options)


def social_settings(rt: Runtime) -> SocialSettings:
    """The social pack's settings of this deployment, or a SettingsError saying it isn't deployed."""
    return rt.settings.pack(PACK, SocialSettings)


def store_of(rt: Runtime) -> SocialStore:
    from offload.packs.social.store import SocialStore

    return SocialStore(rt.clients.dynamodb, social_settings(rt).social_table)
