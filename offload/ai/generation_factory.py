"""Choose the script writer and scene imager of AI video generation.

With an API key (given, or a Secrets Manager ARN read through `offload.ai.factory.read_api_key`):
`OpenAIScriptWriter` and, unless `images="local"`, `OpenAISceneImager`, sharing one client.
Without a key: `LocalScriptWriter` and `LocalSceneImager` (offline, deterministic).
The clip provider is chosen by `offload.ai.video_providers.build_clip_provider`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from offload.ai.factory import resolve_api_key
from offload.ai.generation import SceneImager, ScriptWriter
from offload.ai.local_generation import LocalSceneImager, LocalScriptWriter
from offload.ai.openai_adapter import DEFAULT_TIMEOUT_S, make_client
from offload.ai.openai_generation import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_SCRIPT_MODEL,
    OpenAISceneImager,
    OpenAIScriptWriter,
)
from offload.packs.core.http_util import Allowlist


class GenerationAiSettings(BaseModel):
    """Script and scene-image provider configuration; no key means the local ones."""

    api_key: str | None = Field(default=None, description="provider API key, given directly (local use)")
    api_key_secret_arn: str | None = Field(default=None, description="Secrets Manager secret holding the key")
    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. OpenRouter's")
    script_model: str = Field(default=DEFAULT_SCRIPT_MODEL, min_length=1, description="chat model writing scenes")
    image_model: str = Field(default=DEFAULT_IMAGE_MODEL, min_length=1, description="images.generate model")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    images: Literal["openai", "local"] = Field(
        default="openai", description='"local" draws scene images with Pillow even when a key is set (no image cost)'
    )


def build_script_and_imager(
    settings: GenerationAiSettings, *, secrets: Any | None = None, allow: Allowlist | None = None
) -> tuple[ScriptWriter, SceneImager]:
    """The script writer and scene imager for `settings`; `secrets` (a Secrets Manager client) reads a key by ARN;
    `allow` is the outbound guard's allowlist for image downloads (OFFLOAD_HTTP_ALLOW_HOSTS)."""
    api_key = resolve_api_key(
        settings.api_key,
        settings.api_key_secret_arn,
        secrets,
        setting="api_key_secret_arn",
        caller="build_script_and_imager",
    )
    if not api_key:
        return LocalScriptWriter(), LocalSceneImager()
    client = make_client(api_key, settings.base_url, settings.timeout_s)
    writer = OpenAIScriptWriter(client, settings.script_model)
    if settings.images == "local":
        return writer, LocalSceneImager()
    return writer, OpenAISceneImager(client, settings.image_model, download_timeout_s=settings.timeout_s, allow=allow)
