"""The clip providers of AI video generation, and the one function that picks one from settings.

- "openai": any OpenAI-compatible `/v1/videos` API through the openai SDK (`openai_videos`);
- "veo": Google's Veo on Vertex AI through google-genai, the `generate` extra (`veo`, imported lazily);
- "local": an offline ffmpeg render into a BlobStore (`local`), the default.

See docs/generate.md, "Providers", for the settings, what each can cancel and the prices.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from offload.ai.factory import resolve_api_key
from offload.ai.generation import ClipProvider
from offload.ai.openai_adapter import make_client
from offload.ai.video_providers.blobs import BlobStore, DirBlobStore
from offload.ai.video_providers.local import LocalClipProvider
from offload.ai.video_providers.openai_videos import OpenAIClipProvider
from offload.ai.video_providers.veo import DEFAULT_MODEL as DEFAULT_VEO_MODEL
from offload.ai.video_providers.veo import DEFAULT_TIMEOUT_S, VeoClipProvider, make_genai_client
from offload.settings import SettingsError

__all__ = [
    "BlobStore",
    "ClipProviderSettings",
    "DirBlobStore",
    "LocalClipProvider",
    "OpenAIClipProvider",
    "VeoClipProvider",
    "build_clip_provider",
]


class ClipProviderSettings(BaseModel):
    """Which clip provider to use and how to reach it."""

    provider: Literal["local", "openai", "veo"] = "local"
    model: str | None = Field(default=None, description=f"required for openai; veo default {DEFAULT_VEO_MODEL}")
    base_url: str | None = Field(default=None, description="the API's base URL (a gateway's, or a test server's)")
    api_key: str | None = Field(default=None, description="the provider's API key, given directly (local use)")
    api_key_secret_arn: str | None = Field(default=None, description="Secrets Manager secret holding the key")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, description="per HTTP request")
    local_latency_s: float = Field(default=0.0, ge=0, description="local: seconds before a clip polls completed")
    vertexai: bool = Field(
        default=True, description="veo: Vertex AI (google-genai 3.6.1 makes videos only there); False is refused"
    )
    project: str | None = Field(default=None, description="veo: Google Cloud project (with location, uses ADC)")
    location: str | None = Field(default=None, description="veo: Vertex AI region, e.g. us-central1")


def build_clip_provider(
    settings: ClipProviderSettings, *, blobs: BlobStore | None = None, secrets: Any | None = None
) -> ClipProvider:
    """The provider `settings` names; `blobs` is where the local one keeps clips, `secrets` a Secrets
    Manager client for a key given by ARN. Raises SettingsError naming what is missing."""
    if settings.provider == "local":
        if blobs is None:
            raise SettingsError(
                "the local clip provider keeps clips in a BlobStore: pass blobs= to build_clip_provider"
            )
        return LocalClipProvider(blobs, latency_s=settings.local_latency_s)
    api_key = resolve_api_key(
        settings.api_key,
        settings.api_key_secret_arn,
        secrets,
        setting="the clip provider's api_key_secret_arn",
        caller="build_clip_provider(secrets=...)",
    )
    if settings.provider == "openai":
        if not settings.model:
            raise SettingsError(
                "the openai clip provider has no default model (OpenAI shut Sora 2 down on 2026-09-24): "
                "set model to a video model your /v1/videos gateway serves, and base_url to the gateway"
            )
        if not api_key:
            raise SettingsError("the openai clip provider needs an API key: set api_key or api_key_secret_arn")
        return OpenAIClipProvider(make_client(api_key, settings.base_url, settings.timeout_s), settings.model)
    if not settings.vertexai:
        raise SettingsError(
            "veo with vertexai=False: google-genai 3.6.1 generates videos only on Vertex AI (the Gemini API's "
            "Veo models were retired in October 2026); set vertexai=True with an API key or a project and location"
        )
    client = make_genai_client(
        api_key=api_key,
        project=settings.project,
        location=settings.location,
        base_url=settings.base_url,
        timeout_s=settings.timeout_s,
    )
    return VeoClipProvider(client, settings.model or DEFAULT_VEO_MODEL)
