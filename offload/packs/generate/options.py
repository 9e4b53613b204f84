"""The generate pack's options (`generate_pack(...)`) and a job's data (`video.generate`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from offload.ai.generation import MAX_SCENE_S, MAX_SCENES, MIN_SCENE_S, Scene

Provider = Literal["local", "openai", "veo"]
_SIZE = re.compile(r"^(\d{2,4})x(\d{2,4})$")


class GenerateOptions(BaseModel):
    """How the catalog's generate pack runs; every field has the seeds' default."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider = Field(default="local", description="the clip provider when a job names none")
    model: str | None = Field(default=None, description="the provider's model (required for 'openai' gateways)")
    base_url: str | None = Field(default=None, description="an OpenAI-compatible gateway's /v1 URL")
    provider_key_secret_arn: str | None = Field(
        default=None, description="Secrets Manager secret with the provider key (else the stack's AI key secret)"
    )
    images: Literal["auto", "openai", "local"] = Field(
        default="auto", description="scene images: the openai images API with a key ('auto'), else the local renderer"
    )
    poll_interval_s: int = Field(default=5, ge=1, le=300, description="seeds 001/002: poll every 5 s")
    max_polls: int = Field(default=120, ge=1, le=10_000, description="120 x 5 s = 10 minutes per clip")
    publish_max_polls: int = Field(default=720, ge=1, description="how long to wait for the video pipeline")
    clip_concurrency: int = Field(default=4, ge=1, le=40, description="clips in flight per execution (Map)")
    image_concurrency: int = Field(default=4, ge=1, le=40)
    max_scenes: int = Field(default=6, ge=1, le=MAX_SCENES)
    local_latency_s: float = Field(default=0.0, ge=0, le=600, description="the local provider's pretend render time")

    @property
    def clip_timeout_s(self) -> int:
        return self.poll_interval_s * self.max_polls


class GenerateData(BaseModel):
    """`video.generate`'s data: a prompt (an LLM writes the scenes) or ready scenes, and how to render."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(default=None, min_length=1, max_length=4000)
    scenes: list[Scene] | None = Field(default=None, min_length=1, max_length=MAX_SCENES)
    style: str | None = Field(default=None, max_length=200, description="e.g. 'watercolour', 'documentary'")
    provider: Provider | None = Field(default=None, description="the pack's provider when not given")
    model: str | None = None
    clip_seconds: float = Field(default=4.0, ge=MIN_SCENE_S, le=MAX_SCENE_S)
    size: str = Field(default="1280x720", description="WIDTHxHEIGHT of every clip and the merged video")
    user_id: str | None = Field(default=None, max_length=200)
    skip_failed_scenes: bool = Field(default=False, description="merge without a refused or failed scene")

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        match = _SIZE.match(value)
        if not match or not all(64 <= int(n) <= 3840 and int(n) % 2 == 0 for n in match.groups()):
            raise ValueError(f"size must be WIDTHxHEIGHT with even sides of 64-3840 px, e.g. 1280x720; got {value!r}")
        return value

    @model_validator(mode="after")
    def _prompt_or_scenes(self) -> GenerateData:
        if (self.prompt is None) == (self.scenes is None):
            raise ValueError("give exactly one of `prompt` (the scenes are written for you) or `scenes`")
        return self

    @property
    def dimensions(self) -> tuple[int, int]:
        width, height = self.size.split("x")
        return int(width), int(height)
