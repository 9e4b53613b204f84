"""The notifications pack's options (the app's choice) and settings (what its construct provisioned)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from offload.runtime import Runtime

PACK = "notifications"
DEFAULT_SENDER = "notifications@example.com"


class NotificationOptions(BaseModel):
    """What an app sets with `notifications_pack(...)`."""

    model_config = {"extra": "forbid"}

    sender: str = Field(
        default=DEFAULT_SENDER,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="the From address; the stack creates its SES identity (verify it before sending)",
    )
    templates: str | None = Field(
        default=None,
        description="the app's email template folder, relative to the app's root (e.g. 'myapp/templates/email'); "
        "its templates take precedence over the pack's built-in ones",
    )


class NotificationsSettings(BaseModel):
    """The delivery records table, the sender, the SES configuration set and the app's template folder."""

    deliveries_table: str = Field(description="DynamoDB table of delivery records and disabled endpoints")
    sender: str = Field(default=DEFAULT_SENDER, description="the From address of every email")
    configuration_set: str | None = Field(default=None, description="SES configuration set for delivery events")
    templates: str | None = Field(default=None, description="the app's template folder")


def notifications_settings(rt: Runtime) -> NotificationsSettings:
    """This deployment's notifications settings, or a SettingsError saying the pack isn't deployed."""
    return rt.settings.pack(PACK, NotificationsSettings)
