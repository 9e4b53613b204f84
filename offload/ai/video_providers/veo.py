"""ClipProvider on Google's Veo through google-genai (the `generate` extra), on Vertex AI.

google-genai 3.6.1 generates videos in Vertex AI mode only (`models.generate_videos` refuses the
Gemini Developer API, whose preview Veo models were retired in October 2026), so the client is
always a Vertex AI one: express mode with an API key, or a project and location with Application
Default Credentials. The REST calls the SDK makes (what `offload.testing.genai_server` answers):

- submit: POST {version}/[projects/{p}/locations/{l}/]publishers/google/models/{model}:predictLongRunning
  with `instances[0]` {prompt, image {bytesBase64Encoded, mimeType}} and `parameters`
  {sampleCount, durationSeconds, aspectRatio, resolution, generateAudio}; the answer's operation
  `name` is the job id.
- poll and download: POST {version}/{model path}:fetchPredictOperation with {operationName}; a
  finished operation has `response` {videos [{bytesBase64Encoded, mimeType}], raiMediaFilteredCount,
  raiMediaFilteredReasons}, or `error` {code, message}. Without a storage URI (offload sets none)
  Vertex returns the clip inline, so download fetches the operation again and writes its bytes.

Errors: google.genai.errors.APIError 429 -> RateLimitedError (Retry-After, else 10 s), the other
statuses `offload.http_rules` calls retryable -> RetryableError, other 4xx -> NonRetryableError;
timeouts and connection errors -> RetryableError; an answer that is not JSON or lacks the
operation name -> RetryableError. The SDK's own retries are off (one attempt per call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

from offload.ai.generation import ClipRequest, ClipStatus
from offload.ai.video_providers.clips import ListedModelProvider, write_clip
from offload.errors import JobError, NonRetryableError, RateLimitedError, RetryableError
from offload.http_rules import is_retryable_status, retry_after_s
from offload.settings import SettingsError

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

PROVIDER = "veo"
DEFAULT_MODEL = "veo-3.1-generate-001"
DEFAULT_TIMEOUT_S = 60.0
RATE_LIMIT_WAIT_S = 10.0
# USD per second with audio, Vertex AI list prices (late 2025). Check before quoting; unknown models cost None.
PRICES_PER_S: dict[str, float] = {
    "veo-3.1-generate-001": 0.40,
    "veo-3.1-fast-generate-001": 0.15,
    "veo-3.0-generate-001": 0.40,
    "veo-3.0-fast-generate-001": 0.15,
    "veo-2.0-generate-001": 0.50,
}
# The clip lengths each model family takes, in whole seconds.
DURATIONS: dict[str, tuple[int, ...]] = {"veo-3": (4, 6, 8), "veo-2": (5, 6, 7, 8)}
MISSING_EXTRA = "google-genai is not installed: install offload's generate extra (pip install 'offload[generate]')"

T = TypeVar("T")


def make_genai_client(
    *,
    api_key: str | None = None,
    project: str | None = None,
    location: str | None = None,
    base_url: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> genai.Client:
    """A Vertex AI google-genai client with SDK retries off: express mode with `api_key`, or
    `project` and `location` with Application Default Credentials."""
    try:
        from google import genai
        from google.genai import types
    except ImportError:
        raise SettingsError(MISSING_EXTRA) from None
    if api_key and (project or location):
        raise SettingsError(
            "Veo: give either api_key (Vertex AI express mode) or project and location (service-account "
            "credentials), not both"
        )
    if not api_key and not (project and location):
        raise SettingsError(
            "Veo needs an API key (Vertex AI express mode) or a project and location (with Google "
            "credentials): set api_key / api_key_secret_arn, or project and location"
        )
    options = types.HttpOptions(
        base_url=base_url,
        timeout=round(timeout_s * 1000),  # the SDK takes milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),  # offload's retry policy is the only one
    )
    return genai.Client(vertexai=True, api_key=api_key, project=project, location=location, http_options=options)


class VeoClipProvider(ListedModelProvider):
    """ClipProvider on Veo (Vertex AI) through google-genai."""

    provider = PROVIDER

    def __init__(
        self,
        client: genai.Client,
        model: str = DEFAULT_MODEL,
        *,
        durations: tuple[int, ...] | None = None,
        prices: Mapping[str, float] = PRICES_PER_S,
    ) -> None:
        family = next((prefix for prefix in DURATIONS if model.startswith(prefix)), None)
        super().__init__(model, durations=durations or (DURATIONS[family] if family else None), prices=prices)
        self._client = client
        self._veo3 = family == "veo-3"

    def submit(self, request: ClipRequest) -> str:
        """generate_videos; returns the operation's name."""
        from google.genai import types

        seconds = self.clip_seconds(request.seconds)
        image = None if request.image_png is None else types.Image(image_bytes=request.image_png, mime_type="image/png")
        config = types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=seconds,
            # Veo makes landscape or portrait frames; the pack scales the clip to the scene's size.
            aspect_ratio="16:9" if request.width >= request.height else "9:16",
            # Veo 3 takes a resolution and makes sound only when asked; Veo 2 refuses both parameters.
            resolution=("1080p" if min(request.width, request.height) >= 1080 else "720p") if self._veo3 else None,
            generate_audio=True if self._veo3 else None,
        )
        source = types.GenerateVideosSource(prompt=request.prompt, image=image)
        doing = f"submitting a {seconds} s clip to {self._model}"
        operation = self._call(
            doing, lambda: self._client.models.generate_videos(model=self._model, source=source, config=config)
        )
        if not operation.name:
            raise RetryableError(f"{self._model} answered without an operation name while {doing}; will retry")
        return operation.name

    def poll(self, job_id: str) -> ClipStatus:
        """The operation: in_progress until done, then completed, or failed (refused when the RAI filter said no)."""
        operation = self._operation(job_id, f"polling Veo operation {job_id}")
        if operation.error:
            return ClipStatus(job_id=job_id, state="failed", error=_operation_error(operation.error))
        if not operation.done:
            return ClipStatus(job_id=job_id, state="in_progress")
        result = operation.response or operation.result
        videos = [g.video for g in (result.generated_videos or []) if g.video] if result else []
        if videos:
            return ClipStatus(job_id=job_id, state="completed", progress=100)
        if result and result.rai_media_filtered_count:
            reasons = "; ".join(result.rai_media_filtered_reasons or []) or "filtered by Veo's safety filters"
            return ClipStatus(job_id=job_id, state="failed", error=reasons, refused=True)
        return ClipStatus(job_id=job_id, state="failed", error="Veo finished the operation without a video or a reason")

    def download(self, job_id: str, dest: Path) -> Path:
        """The finished operation's inline video, written to `dest`."""
        operation = self._operation(job_id, f"downloading Veo operation {job_id}")
        result = operation.response or operation.result
        videos = [g.video for g in (result.generated_videos or []) if g.video] if result else []
        if not operation.done or not videos:
            raise NonRetryableError(
                f"Veo operation {job_id} has no finished video to download: poll until it is completed first"
            )
        video = videos[0]
        if not video.video_bytes:
            raise NonRetryableError(
                f"Veo stored the clip of operation {job_id} at {video.uri} instead of returning it: offload reads "
                "clips inline; submit without an output storage URI"
            )
        return write_clip(video.video_bytes, dest, source=f"the video of Veo operation {job_id}")

    def cancel(self, job_id: str) -> bool:
        """False: Veo's long-running video operations can't be cancelled through google-genai (the SDK
        has no cancel for them), so the job runs to its end and is billed; nothing to do."""
        return False

    def _operation(self, job_id: str, doing: str) -> types.GenerateVideosOperation:
        from google.genai import types

        return self._call(
            doing, lambda: self._client.operations.get(types.GenerateVideosOperation.model_validate({"name": job_id}))
        )

    def _call(self, doing: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as exc:
            error = genai_error(exc, doing)
            if error is None:
                raise
            raise error from exc


def genai_error(exc: Exception, doing: str) -> JobError | None:
    """The offload error for a google-genai call's exception, None for one that is not the provider's (a bug)."""
    from google.auth import exceptions as auth_errors
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        status = exc.code
        text = f"HTTP {status} {exc.status or ''} from Vertex AI while {doing}: {exc.message}".replace("  ", " ")
        if status == 429:
            headers = getattr(exc.response, "headers", None) or {}
            return RateLimitedError(text, retry_after_s=retry_after_s(headers, default=RATE_LIMIT_WAIT_S))
        if is_retryable_status(status):
            return RetryableError(text)
        hint = {
            401: "check the API key or the Google credentials",
            403: "the key or service account lacks access to Vertex AI or this model",
            404: "check the model name and the location",
        }
        return NonRetryableError(f"{text} ({hint[status]})" if status in hint else text)
    if isinstance(exc, auth_errors.DefaultCredentialsError | auth_errors.RefreshError):
        return NonRetryableError(
            f"no usable Google credentials while {doing}: {exc}; set GOOGLE_APPLICATION_CREDENTIALS or use an API key"
        )
    if isinstance(exc, _transport_errors()):
        return RetryableError(f"could not reach Vertex AI while {doing}: {type(exc).__name__}: {exc}; will retry")
    if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
        return RetryableError(f"Vertex AI answered something that is not an operation while {doing}: {exc}; will retry")
    return None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The network errors the SDK lets through: httpx2's (its default transport), requests' and google-auth's."""
    from google.auth import exceptions as auth_errors

    found: list[type[BaseException]] = [auth_errors.TransportError, TimeoutError, ConnectionError]
    try:
        import httpx2

        found.append(httpx2.TransportError)
    except ImportError:
        pass
    try:
        import requests

        found.append(requests.RequestException)
    except ImportError:
        pass
    return tuple(found)


def _operation_error(error: Mapping[str, Any]) -> str:
    message = error.get("message") or "Veo gave no reason"
    code = error.get("code")
    return f"{message} (code {code})" if code is not None else str(message)
