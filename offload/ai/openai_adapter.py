"""Vision and embeddings through any OpenAI-compatible API (OpenAI, OpenRouter, a local server).

Error mapping, so offload's retry policy is the only one (the SDK's `max_retries` is 0):
429 -> RateLimitedError (Retry-After, else 5 s; `insufficient_quota` is a billing problem,
so NonRetryableError), the other statuses `offload.http_rules` calls retryable (408, 425, 5xx),
timeouts and connection errors -> RetryableError, other 4xx -> NonRetryableError.

A malformed vision answer (not JSON, or JSON without the required fields) raises
RetryableError: models are nondeterministic and the next attempt usually parses, while
the job's max attempts bound the cost if a model keeps failing. We do not retry inside
the adapter, so attempts stay visible in the job's history. A refusal is
NonRetryableError: the same image gets the same refusal; a 400 whose code says the content policy
blocked the request (`moderation_blocked`, `content_policy_violation`) is ContentRefusedError.

`make_client`, `provider_error`, `structured_completion` and `parse_json_answer` are shared by the
other OpenAI-compatible adapters (`offload.ai.openai_generation`).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal, TypeVar

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import BaseModel, ValidationError

from offload.ai.generation import ContentRefusedError
from offload.ai.ports import MAX_COLORS, MAX_TAGS, ImageMetadata
from offload.errors import JobError, NonRetryableError, RateLimitedError, RetryableError
from offload.http_rules import is_retryable_status, retry_after_s
from offload.media.images import VISION_MAX_SIDE, vision_copy

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_VISION_MODEL = "gpt-4o-mini"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_TIMEOUT_S = 60.0
PROVIDER = "openai"

# What the OpenAI vision models accept. The model is always sent `media.vision_copy` of the upload
# (a JPEG, or a PNG when it has alpha, at most VISION_MAX_SIDE px), so TIFF, BMP, AVIF, 16-bit or
# 50 MB uploads work too; these are checked once more before a call costs anything.
SUPPORTED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# Native sizes of the known embedding models; others need `dimensions=` given explicitly.
KNOWN_EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# Error codes of a 4xx that mean the provider's content policy refused the request (the images and
# videos APIs answer `moderation_blocked`; DALL-E answered `content_policy_violation`).
REFUSAL_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
# One request carries at most this many texts (the API allows 2048; smaller keeps bodies modest).
EMBED_BATCH = 256

VISION_PROMPT = (
    "Describe this image for a searchable media library. Answer with JSON only. "
    "description: one or two plain sentences about what is visible. "
    f"tags: up to {MAX_TAGS} short lowercase keywords (objects, scene, style). "
    "category: one word such as photo, illustration, screenshot, document, diagram or other. "
    f'dominant_colors: up to {MAX_COLORS} hex colours as "#rrggbb", most prominent first. '
    "mood: one or two words."
)

IMAGE_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "category": {"type": "string"},
        "dominant_colors": {"type": "array", "items": {"type": "string"}},
        "mood": {"type": "string"},
    },
    "required": ["description", "tags", "category", "dominant_colors", "mood"],
    "additionalProperties": False,
}


AnswerT = TypeVar("AnswerT", bound=BaseModel)


class _VisionAnswer(BaseModel):
    """The model's answer, before offload's normalisation."""

    description: str
    tags: list[str]
    category: str
    dominant_colors: list[str]
    mood: str


def make_client(api_key: str, base_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> openai.OpenAI:
    """An OpenAI client with SDK retries off, so offload's retry policy is the only one."""
    if not api_key:
        raise ValueError("api_key is empty: pass the provider's key, or use the local adapter")
    return openai.OpenAI(
        api_key=api_key,
        # Explicit so the SDK never falls back to OPENAI_BASE_URL from the environment.
        base_url=base_url or DEFAULT_BASE_URL,
        timeout=timeout_s,
        max_retries=0,
    )


class OpenAIVisionAnalyzer:
    """VisionAnalyzer on chat.completions with a strict JSON-schema response format."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str = DEFAULT_VISION_MODEL,
        *,
        detail: Literal["low", "high", "auto"] = "low",
        max_tokens: int = 600,
        max_side: int = VISION_MAX_SIDE,
    ) -> None:
        self._client = client
        self._model = model
        self._max_side = max_side
        # "low" is a fixed, small token cost per image and is enough for tags and colours.
        self._detail = detail
        self._max_tokens = max_tokens

    @property
    def model(self) -> str:
        return self._model

    def describe(self, image: bytes, *, content_type: str) -> ImageMetadata:
        """Describe `image` (any upload `media.probe` accepts, of type `content_type`) with the vision
        model, which is sent its normalised, downscaled copy; see the module docstring for the errors."""
        shown = vision_copy(image, max_side=self._max_side)  # ImageInputError (non-retryable) if undecodable
        _check_sendable(shown.data, shown.content_type, content_type)
        data_url = f"data:{shown.content_type};base64,{base64.b64encode(shown.data).decode('ascii')}"
        messages: list[ChatCompletionMessageParam] = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": VISION_PROMPT},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": self._detail}},
                ],
            }
        ]
        completion = structured_completion(
            self._client,
            self._model,
            messages,
            schema_name="image_metadata",
            schema=IMAGE_METADATA_SCHEMA,
            max_tokens=self._max_tokens,
            doing="describing an image",
        )
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise NonRetryableError(f"{self._model} refused to describe the image: {message.refusal}")
        answer = parse_json_answer(message.content, self._model, _VisionAnswer, what="image metadata")
        return ImageMetadata(
            description=answer.description.strip(),
            tags=answer.tags,
            category=answer.category.strip().lower() or "unknown",
            dominant_colors=[c for c in (_clean_color(c) for c in answer.dominant_colors) if c],
            mood=answer.mood.strip().lower(),
            provider=PROVIDER,
            model=completion.model or self._model,
        )


class OpenAIEmbedder:
    """Embedder on the embeddings endpoint, batched, in input order."""

    def __init__(
        self, client: openai.OpenAI, model: str = DEFAULT_EMBEDDING_MODEL, *, dimensions: int | None = None
    ) -> None:
        size = dimensions or KNOWN_EMBEDDING_DIMENSIONS.get(model)
        if size is None:
            raise ValueError(
                f"embedding model {model!r} has no known vector size: pass dimensions=<its vector length> "
                f"(known: {', '.join(sorted(KNOWN_EMBEDDING_DIMENSIONS))})"
            )
        self._client = client
        self._model = model
        self._dimensions = size
        # Only text-embedding-3 models can shorten vectors on request; for others the size is a check.
        self._request_dimensions = dimensions if dimensions and model.startswith("text-embedding-3") else None

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text; empty texts are refused (the API rejects them with a 400)."""
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:
            raise NonRetryableError(f"texts at positions {empty} are empty: embed only non-blank text")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors.extend(self._embed_batch(texts[start : start + EMBED_BATCH]))
        return vectors

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        extra: dict[str, Any] = {"dimensions": self._request_dimensions} if self._request_dimensions else {}
        try:
            response = self._client.embeddings.create(model=self._model, input=batch, encoding_format="float", **extra)
        except openai.OpenAIError as exc:
            raise provider_error(exc, f"embedding {len(batch)} texts with {self._model}", self._client) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise RetryableError(f"{self._model} returned {len(data)} embeddings for {len(batch)} texts")
        vectors = [[float(x) for x in item.embedding] for item in data]
        wrong = {len(v) for v in vectors if len(v) != self._dimensions}
        if wrong:
            raise NonRetryableError(
                f"{self._model} returned vectors of length {sorted(wrong)}, expected {self._dimensions}: "
                "set the embedder's dimensions to the model's real vector size"
            )
        return vectors


def provider_error(exc: openai.OpenAIError, doing: str, client: openai.OpenAI | None = None) -> JobError:
    """The offload error for an SDK error, with a message that says what to do."""
    where = f" at {client.base_url}" if client is not None else ""
    if isinstance(exc, openai.APITimeoutError):
        return RetryableError(f"timed out {doing}{where}; will retry (raise the timeout if this repeats)")
    if isinstance(exc, openai.APIConnectionError):
        return RetryableError(f"could not connect{where} while {doing}: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        text = f"HTTP {status}{where} while {doing}: {exc.message}"
        if exc.code in REFUSAL_CODES:
            return ContentRefusedError(PROVIDER, api_message(exc))
        if status == 429:
            if exc.code == "insufficient_quota":
                return NonRetryableError(f"{text} (out of credit: add billing credit to the provider account)")
            return RateLimitedError(text, retry_after_s=retry_after_s(exc.response.headers))
        if is_retryable_status(status):
            return RetryableError(text)
        hint = {401: "check the API key", 403: "the key lacks access to this model", 404: "check the model name"}
        return NonRetryableError(f"{text} ({hint[status]})" if status in hint else text)
    # APIResponseValidationError and other SDK surprises: a bad answer, worth another attempt.
    return RetryableError(f"unexpected provider answer{where} while {doing}: {exc}")


def api_message(exc: openai.APIStatusError) -> str:
    """The API's own error message (the body's `message`), without the SDK's "Error code: NNN - " prefix."""
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) and message else exc.message


def _check_sendable(image: bytes, media_type: str, original_type: str) -> None:
    if media_type not in SUPPORTED_IMAGE_TYPES or len(image) > MAX_IMAGE_BYTES:
        raise NonRetryableError(
            f"the vision copy of the {original_type} upload is {media_type}, {len(image)} bytes; the model takes "
            f"{', '.join(sorted(SUPPORTED_IMAGE_TYPES))} up to {MAX_IMAGE_BYTES} bytes: lower max_side"
        )


def structured_completion(
    client: openai.OpenAI,
    model: str,
    messages: list[ChatCompletionMessageParam],
    *,
    schema_name: str,
    schema: dict[str, Any],
    max_tokens: int,
    doing: str,
) -> ChatCompletion:
    """One chat.completions call whose answer must follow `schema` (strict JSON-schema response format);
    SDK errors mapped by `provider_error`, an answer without choices is RetryableError."""
    response_format: ResponseFormatJSONSchema = {
        "type": "json_schema",
        "json_schema": {"name": schema_name, "strict": True, "schema": schema},
    }
    try:
        completion = client.chat.completions.create(
            model=model, messages=messages, response_format=response_format, max_completion_tokens=max_tokens
        )
    except openai.OpenAIError as exc:
        raise provider_error(exc, f"{doing} with {model}", client) from exc
    if not completion.choices:
        raise RetryableError(f"{model} returned no choices while {doing}; retrying may help")
    return completion


def parse_json_answer(content: str | None, model: str, answer_type: type[AnswerT], *, what: str) -> AnswerT:
    """The model's JSON answer validated as `answer_type`; empty, not JSON or the wrong shape -> RetryableError
    naming the problem (`what` names the expected answer in the message, e.g. "image metadata")."""
    if not content:
        raise RetryableError(f"{model} returned an empty answer instead of {what} JSON; will retry")
    try:
        raw = json.loads(content)
    except json.JSONDecodeError as exc:
        raise RetryableError(
            f"{model} answered with text that is not JSON ({exc.msg} at position {exc.pos}): "
            f"{content[:120]!r}; will retry"
        ) from None
    try:
        return answer_type.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors())
        raise RetryableError(f"{model} answered JSON that is not {what} ({problems}); will retry") from None


def _clean_color(value: str) -> str | None:
    """'#ABC', 'abc123' -> '#aabbcc', '#abc123'; anything else is dropped rather than failing the job."""
    text = value.strip().lower().removeprefix("#")
    if len(text) == 3:
        text = "".join(ch * 2 for ch in text)
    if len(text) == 6 and all(ch in "0123456789abcdef" for ch in text):
        return "#" + text
    return None
