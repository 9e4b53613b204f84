"""Moderation through OpenAI's `omni-moderation-latest` (any OpenAI-compatible base URL), with the openai SDK.

One request per input: a text, or one image sent as a data URL of its `media.vision_copy` (JPEG, or
PNG with alpha, at most VISION_MAX_SIDE px), so any upload the pipelines accept can be scored. A
category counts as checked for the input only when the answer's `category_applied_input_types` lists
the input's type for it (omni-moderation scores images for sexual, violence and self-harm only), so
a text-only category is never reported as "checked" for an image. Errors are mapped by
`openai_adapter.provider_error`, so offload's retry policy is the only one.
"""

from __future__ import annotations

import base64
from typing import Any

import openai

from offload.ai.moderation import InputKind, ModerationResult
from offload.ai.openai_adapter import PROVIDER, provider_error
from offload.errors import NonRetryableError, RetryableError
from offload.media.images import VISION_MAX_SIDE, vision_copy

DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
MAX_TEXT_CHARS = 100_000  # far below the model's context; a longer text is an input error, not a cost


class OpenAIModerator:
    """Moderator on `client.moderations.create`."""

    def __init__(
        self, client: openai.OpenAI, model: str = DEFAULT_MODERATION_MODEL, *, max_side: int = VISION_MAX_SIDE
    ) -> None:
        self._client = client
        self._model = model
        self._max_side = max_side

    @property
    def model(self) -> str:
        return self._model

    def text(self, text: str) -> ModerationResult:
        """Score `text` (1..MAX_TEXT_CHARS characters)."""
        if not text.strip():
            raise NonRetryableError("the text to moderate is empty: pass the text itself")
        if len(text) > MAX_TEXT_CHARS:
            raise NonRetryableError(
                f"the text to moderate is {len(text)} characters, over {MAX_TEXT_CHARS}: "
                "split it and moderate each part"
            )
        return self._create([{"type": "text", "text": text}], "text")

    def image(self, image: bytes) -> ModerationResult:
        """Score one image, sent as its normalised, downscaled copy."""
        shown = vision_copy(image, max_side=self._max_side)  # ImageInputError (non-retryable) if undecodable
        url = f"data:{shown.content_type};base64,{base64.b64encode(shown.data).decode('ascii')}"
        return self._create([{"type": "image_url", "image_url": {"url": url}}], "image")

    def _create(self, items: list[Any], kind: InputKind) -> ModerationResult:
        try:
            response = self._client.moderations.create(model=self._model, input=items)
        except openai.OpenAIError as exc:
            raise provider_error(exc, f"moderating an {kind} with {self._model}", self._client) from exc
        if len(response.results) != 1:
            raise RetryableError(
                f"{self._model} returned {len(response.results)} moderation results for one {kind}; retrying may help"
            )
        result = response.results[0]
        scores: dict[str, float] = result.category_scores.model_dump(by_alias=True)
        applied: dict[str, list[str]] = result.category_applied_input_types.model_dump(by_alias=True)
        checked = sorted(c for c, types in applied.items() if kind in (types or []) and scores.get(c) is not None)
        return ModerationResult(
            provider=PROVIDER,
            model=response.model or self._model,
            input=kind,
            scores={c: float(scores[c]) for c in checked},
            checked=checked,
            provider_flagged=result.flagged,
            unchecked_reason=None if checked else f"{self._model} applied no category to this {kind}",
        )
