"""The AI ports: what a processor asks of a vision model, an embedder and a vector index.

Adapters: `openai_adapter` (any OpenAI-compatible API), `onnx_embedder` (offline MiniLM),
`local_adapter` (deterministic, no network, used when no key is configured), `vector_index`
(S3 JSON objects and in-memory) and `s3_vectors` (Amazon S3 Vectors).
`factory.build_providers` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TAGS = 15
MAX_COLORS = 5
_HEX_COLOR = re.compile(r"^#[0-9a-f]{6}$")


class ImageMetadata(BaseModel):
    """What an analyzer says about one image; `provider` and `model` say who said it."""

    model_config = ConfigDict(frozen=True)

    description: str = Field(description="one or two plain sentences")
    tags: list[str] = Field(default_factory=list, description=f"lowercase, deduplicated, at most {MAX_TAGS}")
    category: str = Field(description="one word or short phrase, e.g. photo, graphic, screenshot")
    dominant_colors: list[str] = Field(default_factory=list, description=f'"#rrggbb", at most {MAX_COLORS}')
    mood: str = Field(description="a word or two, e.g. calm, bright and vivid")
    provider: str = Field(description='"openai" (any OpenAI-compatible API) or "local"')
    model: str = Field(description="the model that produced the answer")
    width: int | None = Field(default=None, ge=1, description="pixels, when the analyzer measured it")
    height: int | None = Field(default=None, ge=1, description="pixels, when the analyzer measured it")

    @field_validator("tags")
    @classmethod
    def _normalise_tags(cls, tags: list[str]) -> list[str]:
        # Normalised rather than rejected: tag casing and repeats are noise, not errors.
        seen: dict[str, None] = {}
        for tag in tags:
            clean = " ".join(tag.lower().split())
            if clean:
                seen.setdefault(clean, None)
        return list(seen)[:MAX_TAGS]

    @field_validator("dominant_colors")
    @classmethod
    def _check_colors(cls, colors: list[str]) -> list[str]:
        lowered = [c.strip().lower() for c in colors]
        bad = [c for c in lowered if not _HEX_COLOR.match(c)]
        if bad:
            raise ValueError(f"dominant_colors must be '#rrggbb' hex strings, got {bad}")
        return list(dict.fromkeys(lowered))[:MAX_COLORS]


class VectorMatch(NamedTuple):
    """One query hit: the key, its cosine similarity to the query (-1..1) and its metadata."""

    key: str
    score: float
    metadata: dict[str, Any]


@runtime_checkable
class VisionAnalyzer(Protocol):
    """Describes an image."""

    @property
    def model(self) -> str: ...

    def describe(self, image: bytes, *, content_type: str) -> ImageMetadata:
        """Describe `image` (raw bytes of type `content_type`); raises offload.errors on failure."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of a fixed size."""

    @property
    def model(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; raises offload.errors on failure."""
        ...


@runtime_checkable
class VectorIndex(Protocol):
    """Stores vectors by key and finds the nearest ones by cosine similarity."""

    def upsert(self, key: str, vector: list[float], metadata: dict[str, Any]) -> None:
        """Insert or replace the vector stored under `key`."""
        ...

    def query(self, vector: list[float], limit: int = 10, filter: Mapping[str, Any] | None = None) -> list[VectorMatch]:
        """The `limit` stored vectors most similar to `vector`, highest score first; with `filter`
        (offload.ai.vector_filter syntax), only vectors whose metadata passes it."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""
        ...
