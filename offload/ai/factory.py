"""Choose the AI providers: an OpenAI-compatible API when a key is configured, local otherwise.

Configuration comes from `AiSettings` (built from OFFLOAD_AI_* variables by `from_env`,
the only place the AI layer reads the environment) or is passed to `build_providers`.
The key can be given directly or as a Secrets Manager ARN (the secret holds the key, or
JSON with an "api_key" field), read through a boto3 client.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from offload.ai.local_adapter import HASHING_MIN_DIMENSIONS, HashingEmbedder, LocalVisionAnalyzer
from offload.ai.moderation import LocalModerator, Moderator
from offload.ai.onnx_embedder import MODEL as ONNX_MODEL
from offload.ai.onnx_embedder import EmbedderUnavailable, OnnxMiniLMEmbedder
from offload.ai.openai_adapter import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_TIMEOUT_S,
    DEFAULT_VISION_MODEL,
    OpenAIEmbedder,
    OpenAIVisionAnalyzer,
    make_client,
)
from offload.ai.openai_moderation import DEFAULT_MODERATION_MODEL, OpenAIModerator
from offload.ai.ports import Embedder, VisionAnalyzer
from offload.secrets import read_secret_key
from offload.settings import SettingsError

ENV_PREFIX = "OFFLOAD_AI_"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Providers:
    """The vision analyzer and embedder to use, and which kind they are."""

    vision: VisionAnalyzer
    embedder: Embedder
    kind: Literal["openai", "local"]

    @property
    def is_local(self) -> bool:
        return self.kind == "local"


class AiSettings(BaseModel):
    """AI provider configuration; every field is optional (no key means the local adapters)."""

    api_key: str | None = Field(default=None, description="provider API key, given directly (local use)")
    api_key_secret_arn: str | None = Field(default=None, description="Secrets Manager secret holding the key")
    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. OpenRouter's")
    vision_model: str | None = Field(default=None, description=f"default {DEFAULT_VISION_MODEL}")
    embedding_model: str | None = Field(default=None, description=f"default {DEFAULT_EMBEDDING_MODEL}")
    embedding_dimensions: int | None = Field(default=None, ge=1, description="needed for unknown embedding models")
    moderation_model: str | None = Field(default=None, description=f"default {DEFAULT_MODERATION_MODEL}")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AiSettings:
        """Build from OFFLOAD_AI_* variables (OFFLOAD_AI_API_KEY, OFFLOAD_AI_BASE_URL, ...)."""
        env = os.environ if env is None else env
        raw = {name: env[ENV_PREFIX + name.upper()] for name in cls.model_fields if env.get(ENV_PREFIX + name.upper())}
        return cls.model_validate(raw)

    def key(self, secrets: Any | None, *, caller: str) -> str | None:
        """The API key: given directly, else read from the secret by ARN (with `secrets`), else None."""
        return resolve_api_key(
            self.api_key, self.api_key_secret_arn, secrets, setting="OFFLOAD_AI_API_KEY_SECRET_ARN", caller=caller
        )


def build_providers(
    api_key: str | None,
    base_url: str | None,
    vision_model: str | None,
    embedding_model: str | None,
    *,
    embedding_dimensions: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Providers:
    """OpenAI-compatible providers when `api_key` is given, the local offline ones otherwise."""
    if not api_key:
        return Providers(vision=LocalVisionAnalyzer(), embedder=local_embedder(), kind="local")
    client = make_client(api_key, base_url, timeout_s)
    return Providers(
        vision=OpenAIVisionAnalyzer(client, vision_model or DEFAULT_VISION_MODEL),
        embedder=OpenAIEmbedder(client, embedding_model or DEFAULT_EMBEDDING_MODEL, dimensions=embedding_dimensions),
        kind="openai",
    )


def local_embedder(onnx: OnnxMiniLMEmbedder | None = None) -> Embedder:
    """The ONNX MiniLM embedder (semantic, 384 dimensions) when its model can load, else the lexical
    HashingEmbedder, with a warning naming why and the fix. `onnx` defaults to the packaged model.

    The two give vectors of different sizes: an index built with one answers the other with a clear
    dimension error (offload.ai.vector_index), so install the model where the index is written and queried."""
    onnx = onnx or OnnxMiniLMEmbedder()
    try:
        onnx.check()
    except EmbedderUnavailable as exc:
        fallback = HashingEmbedder()
        logger.warning(
            "offline embedder: using %s (lexical: shared words only, not meaning) because the ONNX model "
            "cannot load: %s",
            fallback.model,
            exc,
        )
        return fallback
    return onnx


def embedder_for_model(model: str, dimensions: int, settings: AiSettings, secrets: Any | None = None) -> Embedder:
    """The embedder that makes vectors of `model` and size `dimensions`, whatever is configured now: what
    queries an index built with an earlier embedder (search keeps working while a re-index runs)."""
    if model == ONNX_MODEL:
        onnx = OnnxMiniLMEmbedder()
        onnx.check()
        return onnx
    hashing = HashingEmbedder(dimensions) if dimensions >= HASHING_MIN_DIMENSIONS else None
    if hashing is not None and model == hashing.model:
        return hashing
    chosen = settings.model_copy(update={"embedding_model": model, "embedding_dimensions": dimensions})
    providers = providers_from_settings(chosen, secrets)
    if providers.is_local:
        raise SettingsError(
            f"the search index was built with {model!r}, an API model, but no AI key is configured: set "
            "OFFLOAD_AI_API_KEY (or its secret), or run `offload images reindex` to rebuild it with the local embedder"
        )
    return providers.embedder


def providers_from_settings(settings: AiSettings, secrets: Any | None = None) -> Providers:
    """Providers for `settings`, reading the key from Secrets Manager (with `secrets`) when given by ARN."""
    api_key = settings.key(secrets, caller="providers_from_settings")
    return build_providers(
        api_key,
        settings.base_url,
        settings.vision_model,
        settings.embedding_model,
        embedding_dimensions=settings.embedding_dimensions,
        timeout_s=settings.timeout_s,
    )


def moderator_from_settings(settings: AiSettings, secrets: Any | None = None) -> Moderator:
    """OpenAI omni-moderation when a key is configured (given, or by Secrets Manager ARN), the local one otherwise."""
    api_key = settings.key(secrets, caller="moderator_from_settings")
    if not api_key:
        return LocalModerator()
    client = make_client(api_key, settings.base_url, settings.timeout_s)
    return OpenAIModerator(client, settings.moderation_model or DEFAULT_MODERATION_MODEL)


def resolve_api_key(
    api_key: str | None, secret_arn: str | None, secrets: Any | None, *, setting: str, caller: str
) -> str | None:
    """The key given directly, else the one in the secret `secret_arn` names (read with `secrets`), else None.

    `setting` and `caller` name the secret's setting and the function to pass the client to, for the error."""
    if api_key or not secret_arn:
        return api_key
    if secrets is None:
        raise SettingsError(
            f"{setting} is set but no Secrets Manager client was passed: pass Clients().secrets to {caller}"
        )
    return read_api_key(secrets, secret_arn)


def read_api_key(secrets: Any, secret_arn: str) -> str:
    """The API key stored in a secret: its plain string, or the "api_key" field of a JSON object."""
    return read_secret_key(secrets, secret_arn, what="the AI API key", json_field="api_key")
