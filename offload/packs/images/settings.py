"""What the images pack's construct provisions, as the workers and clients see it (`Settings.packs["images"]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from offload.packs.images import VectorBackend

if TYPE_CHECKING:
    from offload.runtime import Runtime

PACK = "images"


class ImagesSettings(BaseModel):
    """The media bucket (uploads/images/ feeds the pipeline), the image records and the state machine."""

    media_bucket: str = Field(description="bucket whose uploads/images/ feeds the image pipeline")
    images_table: str = Field(description="DynamoDB table of image records")
    pipeline_arn: str | None = Field(default=None, description="the image pipeline state machine")
    vector_index: VectorBackend = Field(default="s3vectors", description="where the search vectors live")
    vector_bucket: str | None = Field(default=None, description="the S3 Vectors bucket (vector_index s3vectors)")


def images_settings(rt: Runtime) -> ImagesSettings:
    """The images pack's settings of this deployment, or a SettingsError saying it isn't deployed."""
    return rt.settings.pack(PACK, ImagesSettings)
