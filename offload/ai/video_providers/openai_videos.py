"""ClipProvider on the OpenAI `/v1/videos` shape, through the openai SDK's `client.videos`.

OpenAI shut its own Videos API and the Sora 2 models down on 2026-09-24; gateways still serve
other models behind the same shape, so the base URL and the model are always configured (there
is no default model). submit is POST /videos (multipart: prompt, model, seconds, size "WxH", the
scene image as `input_reference`), poll GET /videos/{id}, download GET /videos/{id}/content,
cancel DELETE /videos/{id}.

Errors as `offload.ai.openai_adapter.provider_error` maps them (429 RateLimitedError with
Retry-After, 5xx / timeouts / connection RetryableError, other 4xx NonRetryableError). A content
refusal is ContentRefusedError at submit (a 4xx whose code is in REFUSAL_CODES) and a failed,
`refused` ClipStatus at poll. A malformed answer (not JSON, no id or status) is RetryableError.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

import openai
from openai.types import VideoSeconds, VideoSize

from offload.ai.generation import ClipRequest, ClipState, ClipStatus, ContentRefusedError
from offload.ai.openai_adapter import provider_error
from offload.ai.video_providers.clips import ListedModelProvider, write_clip
from offload.errors import NonRetryableError, RetryableError

PROVIDER = "openai"
# Error codes that mean the provider's content policy said no: OpenAI's video and image moderation
# (`moderation_blocked`, `content_policy_violation`) and Azure OpenAI's `content_filter`.
REFUSAL_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
# USD per second of video, list prices at 720p as OpenAI published them for the Sora 2 API
# (October 2025); the API closed on 2026-09-24. Check before quoting; unknown models cost None.
PRICES_PER_S: dict[str, float] = {"sora-2": 0.10, "sora-2-pro": 0.30}
CLIP_STATES: frozenset[str] = frozenset(get_args(ClipState))

T = TypeVar("T")


class OpenAIClipProvider(ListedModelProvider):
    """ClipProvider for any OpenAI-compatible `/v1/videos` API."""

    provider = PROVIDER

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        *,
        durations: tuple[int, ...] | None = None,
        prices: Mapping[str, float] = PRICES_PER_S,
    ) -> None:
        if not model:
            raise ValueError("model is empty: name the video model the gateway serves")
        # `durations`: the whole-second lengths the model takes (Sora 2 took 4, 8 and 12); None sends any.
        super().__init__(model, durations=durations, prices=prices)
        self._client = client

    def submit(self, request: ClipRequest) -> str:
        """POST /videos; returns the video job's id."""
        seconds = self.clip_seconds(request.seconds)
        params: dict[str, Any] = {
            "prompt": request.prompt,
            "model": self._model,
            # The SDK types list Sora's values; gateways take others, sent as the same strings.
            "seconds": cast(VideoSeconds, str(seconds)),
            "size": cast(VideoSize, f"{request.width}x{request.height}"),
        }
        if request.image_png is not None:
            params["input_reference"] = ("scene.png", request.image_png, "image/png")
        doing = f"submitting a {seconds} s clip to {self._model}"
        video = self._call(doing, lambda: self._client.videos.create(**params), refusals=True)
        return _job_status(video, doing).job_id

    def poll(self, job_id: str) -> ClipStatus:
        """GET /videos/{id}: queued, in_progress, completed, or failed (refused for a content-policy code)."""
        doing = f"polling video job {job_id}"
        return _job_status(self._call(doing, lambda: self._client.videos.retrieve(job_id)), doing)

    def download(self, job_id: str, dest: Path) -> Path:
        """GET /videos/{id}/content into `dest`."""
        doing = f"downloading video job {job_id}"
        content = self._call(doing, lambda: self._client.videos.download_content(job_id))
        return write_clip(content.content, dest, source=f"the content of video job {job_id} at {self._client.base_url}")

    def cancel(self, job_id: str) -> bool:
        """DELETE /videos/{id}: True when deleted or already gone, False when the API won't delete it now."""
        try:
            self._call(f"deleting video job {job_id}", lambda: self._client.videos.delete(job_id))
        except NonRetryableError as exc:
            status = getattr(exc.__cause__, "status_code", None)
            if status == 404:
                return True  # already gone
            if status in (400, 409):
                return False  # the API deletes only finished jobs: nothing to do
            raise
        return True

    def _call(self, doing: str, call: Callable[[], T], *, refusals: bool = False) -> T:
        try:
            with warnings.catch_warnings():
                # The SDK marks client.videos deprecated because OpenAI's own API closed; gateways still speak it.
                warnings.simplefilter("ignore", DeprecationWarning)
                return call()
        except openai.APIStatusError as exc:
            code = exc.code if isinstance(exc.code, str) else None
            if refusals and 400 <= exc.status_code < 500 and code in REFUSAL_CODES:
                raise ContentRefusedError(PROVIDER, f"{exc.message} ({code})") from exc
            raise provider_error(exc, doing, self._client) from exc
        except openai.OpenAIError as exc:
            raise provider_error(exc, doing, self._client) from exc
        except json.JSONDecodeError as exc:
            raise RetryableError(
                f"{self._client.base_url} answered with JSON that does not parse ({exc.msg}) while {doing}; will retry"
            ) from None


def _job_status(video: object, doing: str) -> ClipStatus:
    """The ClipStatus a video job says, or RetryableError naming what the answer lacks."""
    if not isinstance(video, openai.types.Video):
        raise RetryableError(f"the answer while {doing} is not a video job JSON object: {str(video)[:120]!r}; retrying")
    missing = [name for name in ("id", "status") if not getattr(video, name, None)]
    if missing:
        raise RetryableError(f"the video job answered while {doing} has no {' or '.join(missing)}; will retry")
    if video.status not in CLIP_STATES:
        raise RetryableError(f"video job {video.id} has an unknown status {video.status!r} while {doing}; will retry")
    state = cast(ClipState, video.status)
    progress = video.progress if isinstance(video.progress, int) else None
    progress = None if progress is None else max(0, min(100, progress))
    if state != "failed":
        return ClipStatus(job_id=video.id, state=state, progress=progress)
    error = video.error
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or code or "the provider gave no reason"
    return ClipStatus(
        job_id=video.id,
        state="failed",
        progress=progress,
        error=f"{message} ({code})" if code and code != message else message,
        refused=code in REFUSAL_CODES,
    )
