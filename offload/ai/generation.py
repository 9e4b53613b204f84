"""The ports of AI video generation: a script writer, a scene imager and a clip provider.

The `generate` pack's state machine calls them one step at a time (never a Lambda that sleeps):
`ScriptWriter.write` once, `SceneImager.render` per scene, and per clip `ClipProvider.submit`,
then `poll` after each Wait state until the clip is done, then `download`.

Adapters: `offload.ai.openai_generation` (chat + images through any OpenAI-compatible API),
`offload.ai.video_providers` (the `/v1/videos` shape through the openai SDK, Veo through
google-genai, and the local ffmpeg renderer). `offload.ai.generation_factory` picks them.

Errors follow offload.errors, so the state machine's retry policy is the only one:
RateLimitedError (429, with Retry-After) waits without using an attempt; RetryableError
(5xx, timeouts, a malformed answer) is retried 3 times at 2 s / 4 s / 8 s; ContentRefusedError
(the provider's content policy said no) fails that scene at once with the provider's reason;
other NonRetryableError (bad request, missing clip) fails it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from offload.errors import NonRetryableError

MAX_SCENES = 12
MIN_SCENE_S = 1.0
MAX_SCENE_S = 20.0
MAX_TEXT_CHARS = 500
MAX_VISUAL_CHARS = 1000
MIN_IMAGE_SIDE = 64
MAX_IMAGE_SIDE = 3840


class ContentRefusedError(NonRetryableError):
    """The provider refused the content (e.g. OpenAI's `moderation_blocked`, Veo's RAI filter)."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider} refused the content: {reason}")
        self.provider = provider
        self.reason = reason


class Scene(BaseModel):
    """One scene of a script: what is said or shown as a caption, what is seen, for how long."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="the caption or narration line")
    visual: str = Field(min_length=1, max_length=MAX_VISUAL_CHARS, description="what the picture shows")
    seconds: float = Field(ge=MIN_SCENE_S, le=MAX_SCENE_S, description="the clip's length")


class ClipRequest(BaseModel):
    """What a provider is asked to make for one scene."""

    prompt: str = Field(min_length=1)
    seconds: float = Field(ge=MIN_SCENE_S, le=MAX_SCENE_S)
    width: int = Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE)
    height: int = Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE)
    image_png: bytes | None = Field(default=None, description="the scene image to start from, when the model takes one")
    caption: str | None = Field(default=None, description="the scene's text (the local provider draws it)")


ClipState = Literal["queued", "in_progress", "completed", "failed"]


class ClipStatus(BaseModel):
    """A provider job's state as one poll saw it."""

    job_id: str
    state: ClipState
    progress: int | None = Field(default=None, ge=0, le=100)
    error: str | None = Field(default=None, description="the provider's reason when state is failed")
    refused: bool = Field(default=False, description="failed because of the provider's content policy")


@runtime_checkable
class ScriptWriter(Protocol):
    """Turns a prompt into scenes."""

    @property
    def model(self) -> str: ...

    def write(self, prompt: str, *, style: str | None, clip_seconds: float, max_scenes: int) -> list[Scene]:
        """At most `max_scenes` scenes of about `clip_seconds` each; raises offload.errors on failure."""
        ...


@runtime_checkable
class SceneImager(Protocol):
    """Draws one scene's picture."""

    @property
    def model(self) -> str: ...

    def render(self, scene: Scene, *, style: str | None, width: int, height: int) -> bytes:
        """A PNG of `width` x `height`; raises offload.errors on failure."""
        ...


@runtime_checkable
class ClipProvider(Protocol):
    """Makes a video clip asynchronously: submit, poll until done, download."""

    @property
    def name(self) -> str:
        """The provider's id: "openai" (any /v1/videos gateway), "veo" or "local"."""
        ...

    @property
    def model(self) -> str: ...

    def submit(self, request: ClipRequest) -> str:
        """Start a job; returns the provider's job id."""
        ...

    def poll(self, job_id: str) -> ClipStatus:
        """The job's state now (one request, no waiting)."""
        ...

    def download(self, job_id: str, dest: Path) -> Path:
        """Write the finished clip (MP4) to `dest`; returns `dest`."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Cancel or delete the job where the provider can; False when it can't (nothing to do)."""
        ...

    def cost_usd(self, seconds: float) -> float | None:
        """The provider's list price for a clip of `seconds`, when known (an estimate)."""
        ...


def check_script_request(prompt: str, *, clip_seconds: float, max_scenes: int) -> str:
    """The prompt, stripped, once a `ScriptWriter.write` call's arguments are checked (NonRetryableError if not)."""
    text = prompt.strip()
    if not text:
        raise NonRetryableError("the prompt is empty: describe the video to make in a sentence or more")
    if not MIN_SCENE_S <= clip_seconds <= MAX_SCENE_S:
        raise NonRetryableError(
            f"clip_seconds is {clip_seconds}: give a scene length from {MIN_SCENE_S} to {MAX_SCENE_S} seconds"
        )
    if not 1 <= max_scenes <= MAX_SCENES:
        raise NonRetryableError(f"max_scenes is {max_scenes}: give 1 to {MAX_SCENES} scenes")
    return text


def check_image_size(width: int, height: int) -> None:
    """Refuse a `SceneImager.render` size outside MIN_IMAGE_SIDE..MAX_IMAGE_SIDE (NonRetryableError)."""
    for name, value in (("width", width), ("height", height)):
        if not MIN_IMAGE_SIDE <= value <= MAX_IMAGE_SIDE:
            raise NonRetryableError(
                f"image {name} is {value} px: give {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} px (the clip's frame size)"
            )
