"""What the maintenance pack's construct provisions, as its worker sees it (`Settings.packs["maintenance"]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from offload.settings import SettingsError

if TYPE_CHECKING:
    from offload.runtime import Runtime

PACK = "maintenance"
# cdk.json keys (read by the construct) and their defaults.
BACKUP_RETENTION_CONTEXT = "offload:backupRetentionDays"
REPORT_RETENTION_CONTEXT = "offload:reportRetentionDays"
DEFAULT_BACKUP_RETENTION_DAYS = 14
DEFAULT_REPORT_RETENTION_DAYS = 400


class MaintenanceSettings(BaseModel):
    media_bucket: str | None = Field(default=None, description="the media bucket (None: the catalog has no uploads)")
    images_table: str | None = Field(default=None, description="the images pack's records (None: not composed)")
    videos_table: str | None = Field(default=None, description="the video pack's records (None: not composed)")
    backup_tables: list[str] = Field(default_factory=list, description="tables backed up daily (jobs + packs')")
    backup_retention_days: int = Field(default=DEFAULT_BACKUP_RETENTION_DAYS, ge=1)
    report_retention_days: int = Field(default=DEFAULT_REPORT_RETENTION_DAYS, ge=1)


def maintenance_settings(rt: Runtime) -> MaintenanceSettings:
    """The pack's settings; outside a stack that built them (a bare moto stack), the defaults."""
    try:
        return rt.settings.pack(PACK, MaintenanceSettings)
    except SettingsError:
        if PACK in rt.settings.packs:
            raise
        return MaintenanceSettings()
