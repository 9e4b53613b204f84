"""Image records: one per upload key, status pending -> processing -> completed | failed | cancelled.

The record's fields are the images pack's own; how records are written (one conditional update per
status change, from MEDIA_LIFECYCLE and the object version) is `offload.media.records`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from offload.media.records import MEDIA_LIFECYCLE, MediaStatus, MediaStore, version_tag

ImageStatus = MediaStatus
IMAGE_LIFECYCLE = MEDIA_LIFECYCLE

__all__ = ["IMAGE_LIFECYCLE", "ImageRecord", "ImageStatus", "ImageStore", "version_tag"]


class ImageRecord(BaseModel):
    """What a client polls for an upload."""

    key: str
    bucket: str
    status: ImageStatus
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    metadata: dict[str, Any] | None = None
    variants: list[dict[str, Any]] = Field(default_factory=list)
    embedding: dict[str, Any] | None = None
    execution_arn: str | None = None
    error: dict[str, str] | None = None
    # The moderation pack's state of this upload ({status, reason, at}), when the pack is in the catalog.
    moderation: dict[str, Any] | None = None
    created_at: str
    updated_at: str


class ImageStore(MediaStore[ImageRecord]):
    """Conditional writes of image records in the images table (partition key `key`)."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(client, table, ImageRecord)
