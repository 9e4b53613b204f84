"""The script writer and scene imager of AI video generation through any OpenAI-compatible API.

`OpenAIScriptWriter` asks chat.completions for the scenes with a strict JSON-schema response
format (`SCRIPT_SCHEMA`), then validates them into `Scene`s: lengths clamped to
[MIN_SCENE_S, MAX_SCENE_S], at most `max_scenes` kept (the first ones, in order). A malformed
answer is RetryableError (the next attempt usually parses); a refusal is ContentRefusedError.

`OpenAISceneImager` asks images.generate for one picture at the model's supported size nearest the
frame's aspect ratio, then crops and scales it (cover, centred) to exactly the frame's size as PNG.
A content-policy 400 (`moderation_blocked`) is ContentRefusedError with the API's message.

Client and error mapping are `offload.ai.openai_adapter`'s (`make_client`, `provider_error`).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import textwrap
import urllib.error
from collections.abc import Sequence
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.images_response import ImagesResponse
from PIL import Image, ImageOps
from pydantic import BaseModel

from offload.ai.generation import (
    MAX_SCENE_S,
    MAX_TEXT_CHARS,
    MAX_VISUAL_CHARS,
    MIN_SCENE_S,
    ContentRefusedError,
    Scene,
    check_image_size,
    check_script_request,
)
from offload.ai.openai_adapter import (
    DEFAULT_TIMEOUT_S,
    PROVIDER,
    parse_json_answer,
    provider_error,
    structured_completion,
)
from offload.errors import NonRetryableError, RetryableError
from offload.http_rules import error_for_status
from offload.media.facts import DEFAULT_MAX_BYTES, ImageInputError
from offload.media.images import normalise
from offload.packs.core.http_util import Allowlist, open_url

DEFAULT_SCRIPT_MODEL = "gpt-4o-mini"
DEFAULT_IMAGE_MODEL = "gpt-image-1"

SCRIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "scenes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "description": "the caption shown on screen, one short line"},
                    "visual": {"type": "string", "description": "what the picture shows, with no text in it"},
                    "seconds": {"type": "number", "description": "how long the scene lasts"},
                },
                "required": ["text", "visual", "seconds"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["scenes"],
    "additionalProperties": False,
}

SCRIPT_INSTRUCTIONS = (
    "You write the script of a short video as a list of scenes. Answer with JSON only. "
    "Each scene has text: one short caption line shown on screen (at most 15 words); "
    "visual: what the picture shows, concrete and visual (subject, setting, light, framing) in one or two "
    "sentences, with no words, letters or captions in the picture; seconds: how long the scene lasts. "
    "Tell the video in order; keep the same subject and look across scenes."
)

# The sizes images.generate takes per model family, (width, height). GPT image models take the three
# standard sizes (newer ones arbitrary sizes too, but these are the ones every GPT image model takes).
GPT_IMAGE_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))
MODEL_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "dall-e-2": ((1024, 1024),),
}
ImageQuality = Literal["low", "medium", "high", "auto"]


class _SceneAnswer(BaseModel):
    text: str
    visual: str
    seconds: float


class _ScriptAnswer(BaseModel):
    scenes: list[_SceneAnswer]


class OpenAIScriptWriter:
    """ScriptWriter on chat.completions with a strict JSON-schema response format."""

    def __init__(self, client: openai.OpenAI, model: str = DEFAULT_SCRIPT_MODEL, *, max_tokens: int = 2000) -> None:
        self._client = client
        self._model = model
        # 12 scenes of a caption and two sentences each are ~1,000 tokens; the rest is headroom.
        self._max_tokens = max_tokens

    @property
    def model(self) -> str:
        return self._model

    def write(self, prompt: str, *, style: str | None, clip_seconds: float, max_scenes: int) -> list[Scene]:
        """At most `max_scenes` scenes of about `clip_seconds` each, in the model's order."""
        text = check_script_request(prompt, clip_seconds=clip_seconds, max_scenes=max_scenes)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SCRIPT_INSTRUCTIONS},
            {"role": "user", "content": script_request(text, style, clip_seconds, max_scenes)},
        ]
        completion = structured_completion(
            self._client,
            self._model,
            messages,
            schema_name="video_script",
            schema=SCRIPT_SCHEMA,
            max_tokens=self._max_tokens,
            doing="writing a video script",
        )
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise ContentRefusedError(PROVIDER, str(message.refusal))
        answer = parse_json_answer(message.content, self._model, _ScriptAnswer, what="a video script")
        if not answer.scenes:
            raise RetryableError(f"{self._model} wrote a script with zero scenes; will retry")
        return [_to_scene(scene, i, clip_seconds, self._model) for i, scene in enumerate(answer.scenes[:max_scenes])]


class OpenAISceneImager:
    """SceneImager on images.generate, cropped and scaled to the frame's exact size."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str = DEFAULT_IMAGE_MODEL,
        *,
        sizes: Sequence[tuple[int, int]] | None = None,
        quality: ImageQuality | None = None,
        download_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_download_bytes: int = DEFAULT_MAX_BYTES,
        allow: Allowlist | None = None,
    ) -> None:
        self._client = client
        self._model = model
        # A gateway's model of another name: pass the sizes it takes.
        self._sizes = tuple(sizes) if sizes else MODEL_SIZES.get(model, GPT_IMAGE_SIZES)
        self._quality = quality
        self._download_timeout_s = download_timeout_s
        self._max_download_bytes = max_download_bytes
        # Image URLs come from the provider's answer: downloads go through the SSRF guard like any
        # outbound call; `allow` (OFFLOAD_HTTP_ALLOW_HOSTS) admits a local cloud's loopback storage.
        self._allow = allow or Allowlist()

    @property
    def model(self) -> str:
        return self._model

    def render(self, scene: Scene, *, style: str | None, width: int, height: int) -> bytes:
        """A PNG of exactly `width` x `height` showing the scene's visual in `style`."""
        check_image_size(width, height)
        size_w, size_h = nearest_size(width, height, self._sizes)
        extra: dict[str, Any] = {}
        if self._model.startswith("dall-e"):
            extra["response_format"] = "b64_json"  # GPT image models always answer base64 and refuse the field
        if self._quality:
            extra["quality"] = self._quality
        try:
            response = self._client.images.generate(
                model=self._model, prompt=image_prompt(scene, style), size=f"{size_w}x{size_h}", n=1, **extra
            )
        except openai.OpenAIError as exc:
            raise provider_error(exc, f"drawing a scene image with {self._model}", self._client) from exc
        return cover_png(self._image_bytes(response), width, height, source=self._model)

    def _image_bytes(self, response: ImagesResponse) -> bytes:
        if not response.data:
            raise RetryableError(f"{self._model} answered images.generate with no image; will retry")
        image = response.data[0]
        if image.b64_json:
            try:
                return base64.b64decode(image.b64_json, validate=True)
            except (binascii.Error, ValueError):
                raise RetryableError(f"{self._model} returned b64_json that is not base64; will retry") from None
        if image.url:
            return self._download(image.url)
        raise RetryableError(f"{self._model} returned an image with neither b64_json nor url; will retry")

    def _download(self, url: str) -> bytes:
        """The image a provider answered with a URL (a storage link, so no API key is sent to it)."""
        if not url.startswith(("https://", "http://")):
            raise NonRetryableError(
                f"{self._model} returned an image URL of an unsupported kind ({url[:40]!r}): "
                "use a model or gateway that answers b64_json or an http(s) URL"
            )
        shown = url.split("?", 1)[0]  # signed URLs carry credentials in the query
        try:
            with open_url(url, timeout=self._download_timeout_s, allow=self._allow) as resp:
                data: bytes = resp.read(self._max_download_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise error_for_status(exc.code, shown, "downloading the generated image") from None
        except NonRetryableError as exc:  # the guard refused the destination
            reason = str(exc).replace(url, shown)
            raise NonRetryableError(f"{self._model} returned an image URL offload won't download: {reason}") from None
        except RetryableError as exc:
            raise RetryableError(f"could not download the generated image: {str(exc).replace(url, shown)}") from None
        if len(data) > self._max_download_bytes:
            raise NonRetryableError(
                f"the generated image at {shown} is over {self._max_download_bytes} bytes: raise max_download_bytes"
            )
        return data


def script_request(prompt: str, style: str | None, clip_seconds: float, max_scenes: int) -> str:
    """The user message asking for the script."""
    return (
        f"The video: {prompt}\n"
        f"Style: {style.strip() if style and style.strip() else 'none given; choose one that suits the video'}\n"
        f"Write at most {max_scenes} scenes of about {clip_seconds:g} seconds each "
        f"(each between {MIN_SCENE_S:g} and {MAX_SCENE_S:g} seconds)."
    )


def image_prompt(scene: Scene, style: str | None) -> str:
    """What the image model is asked to draw: the scene's visual in the style, without any lettering
    (the clip renderer adds the caption)."""
    parts = [scene.visual.strip().rstrip(".")]
    if style and style.strip():
        parts.append(f"Style: {style.strip().rstrip('.')}")
    parts.append("No text, letters or captions in the picture.")
    return ". ".join(parts)


def nearest_size(width: int, height: int, sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The size among `sizes` whose aspect ratio is nearest `width` / `height` (the larger one on a tie)."""
    target = math.log(width / height)
    return min(sizes, key=lambda s: (abs(math.log(s[0] / s[1]) - target), -s[0] * s[1]))


def cover_png(data: bytes, width: int, height: int, *, source: str) -> bytes:
    """`data` (an image) scaled and centre-cropped to cover exactly `width` x `height`, as an opaque PNG."""
    try:
        _, im = normalise(data, max_side=max(4096, width, height))
    except ImageInputError as exc:
        raise RetryableError(f"{source} returned image data that does not decode ({exc}); will retry") from None
    if im.mode == "RGBA":  # video frames are opaque: a transparent background becomes black
        im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im)
    fitted = ImageOps.fit(im.convert("RGB"), (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    out = io.BytesIO()
    fitted.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _to_scene(answer: _SceneAnswer, index: int, clip_seconds: float, model: str) -> Scene:
    text = " ".join(answer.text.split())
    visual = " ".join(answer.visual.split())
    for name, value in (("text", text), ("visual", visual)):
        if not value:
            raise RetryableError(f"{model} wrote scene {index + 1} with an empty {name}; will retry")
    seconds = answer.seconds if math.isfinite(answer.seconds) else clip_seconds
    # Fields longer than `Scene` allows are shortened rather than failing the script.
    return Scene(
        text=textwrap.shorten(text, MAX_TEXT_CHARS, placeholder="…"),
        visual=textwrap.shorten(visual, MAX_VISUAL_CHARS, placeholder="…"),
        seconds=min(MAX_SCENE_S, max(MIN_SCENE_S, seconds)),
    )
