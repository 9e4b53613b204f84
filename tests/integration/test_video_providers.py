"""The clip providers of AI video generation: the /v1/videos adapter through the openai SDK and the
Veo adapter through google-genai, each against its loopback fake, and the local ffmpeg renderer."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from PIL import Image

from offload.ai.generation import ClipProvider, ClipRequest, ContentRefusedError
from offload.ai.openai_adapter import make_client
from offload.ai.video_providers import (
    ClipProviderSettings,
    DirBlobStore,
    LocalClipProvider,
    OpenAIClipProvider,
    VeoClipProvider,
    build_clip_provider,
)
from offload.errors import NonRetryableError, RateLimitedError, RetryableError
from offload.media.video import samples
from offload.media.video.facts import probe
from offload.settings import SettingsError
from offload.testing.genai_server import FakeGenAIServer, google_error, operation_name, veo_operation
from offload.testing.openai_server import FakeOpenAIServer, Reply, api_error, video_content, video_deleted, video_job

GATEWAY_MODEL = "sora-2"  # in the price table; any model the gateway serves works the same
VEO_MODEL = "veo-3.1-generate-001"
OP = operation_name(VEO_MODEL, "op-7")


def png_bytes(size: tuple[int, int] = (64, 36), color: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real half-second H.264 + AAC MP4, as a provider would return."""
    return samples.short(tmp_path_factory.mktemp("clip") / "clip.mp4").read_bytes()


def request(**changes: object) -> ClipRequest:
    fields: dict[str, object] = {"prompt": "a lighthouse at dusk", "seconds": 2.5, "width": 1280, "height": 720}
    return ClipRequest.model_validate(fields | changes)


# --- OpenAI-compatible /v1/videos -----------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def openai_clips(gateway: FakeOpenAIServer) -> ClipProvider:
    settings = ClipProviderSettings(
        provider="openai", model=GATEWAY_MODEL, base_url=gateway.base_url, api_key="sk-test", timeout_s=5
    )
    return build_clip_provider(settings)


def test_openai_clip_is_submitted_with_the_scene_image_polled_until_done_and_downloaded_as_mp4(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider, mp4: bytes, tmp_path: Path
) -> None:
    image = png_bytes()
    gateway.script(
        video_job("video_1", "queued"),
        video_job("video_1", "in_progress", progress=40),
        video_job("video_1", "completed"),
        video_content(mp4),
    )

    job_id = openai_clips.submit(request(image_png=image))
    first, second = openai_clips.poll(job_id), openai_clips.poll(job_id)
    out = openai_clips.download(job_id, tmp_path / "out" / "clip.mp4")

    assert job_id == "video_1"
    assert (first.state, first.progress) == ("in_progress", 40)
    assert (second.state, second.progress) == ("completed", 100)
    assert probe(str(out)).video is not None and out.read_bytes() == mp4
    create, *_ = gateway.requests
    assert (create.method, create.path) == ("POST", "/v1/videos")
    # 2.5 s is asked for as 3 whole seconds, so the clip is never shorter than the scene.
    assert create.body == {"prompt": "a lighthouse at dusk", "model": GATEWAY_MODEL, "seconds": "3", "size": "1280x720"}
    sent = create.files["input_reference"]
    assert (sent.content_type, sent.data) == ("image/png", image)
    assert [(r.method, r.path) for r in gateway.requests[1:]] == [
        ("GET", "/v1/videos/video_1"),
        ("GET", "/v1/videos/video_1"),
        ("GET", "/v1/videos/video_1/content"),
    ]


def test_openai_submit_without_an_image_sends_no_input_reference(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider
) -> None:
    gateway.script(video_job("video_2", "queued"))

    openai_clips.submit(request(seconds=4, width=720, height=1280))

    assert gateway.requests[0].files == {}
    assert gateway.requests[0].body["size"] == "720x1280" and gateway.requests[0].body["seconds"] == "4"


def test_openai_429_is_rate_limited_for_the_retry_after_the_gateway_gives(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider
) -> None:
    gateway.script(api_error(429, "Rate limit reached for videos", code="rate_limit_exceeded", retry_after="7"))

    with pytest.raises(RateLimitedError) as caught:
        openai_clips.poll("video_1")

    assert caught.value.retry_after_s == 7.0


def test_openai_500_at_submit_is_retryable(gateway: FakeOpenAIServer, openai_clips: ClipProvider) -> None:
    gateway.script(api_error(500, "The server had an error", error_type="server_error"))

    with pytest.raises(RetryableError, match="HTTP 500"):
        openai_clips.submit(request())


def test_openai_refusal_at_submit_is_content_refused_with_the_providers_reason(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider
) -> None:
    gateway.script(api_error(400, "Your request was blocked by our moderation system.", code="moderation_blocked"))

    with pytest.raises(ContentRefusedError) as caught:
        openai_clips.submit(request())

    assert caught.value.provider == "openai"
    assert "blocked by our moderation system" in caught.value.reason
    assert isinstance(caught.value, NonRetryableError)


def test_openai_other_4xx_at_submit_is_non_retryable_but_not_a_refusal(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider
) -> None:
    gateway.script(api_error(400, "size must be one of 1280x720, 720x1280", code="invalid_value"))

    with pytest.raises(NonRetryableError, match="size must be one of") as caught:
        openai_clips.submit(request())

    assert not isinstance(caught.value, ContentRefusedError)


def test_openai_job_failed_by_moderation_polls_as_refused_and_other_failures_do_not(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider
) -> None:
    gateway.script(
        video_job("video_3", "failed", error=("moderation_blocked", "The output was blocked by moderation.")),
        video_job("video_4", "failed", error=("internal_error", "Generation failed.")),
    )

    refused, failed = openai_clips.poll("video_3"), openai_clips.poll("video_4")

    assert (refused.state, refused.refused) == ("failed", True)
    assert refused.error is not None and "blocked by moderation" in refused.error
    assert (failed.state, failed.refused) == ("failed", False)
    assert failed.error is not None and "Generation failed." in failed.error


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (Reply(body={"object": "video", "progress": 10}), "no id or status"),
        (Reply(body={"id": "video_1", "object": "video"}), "no status"),
        (Reply(body="<html>gateway</html>"), "not a video job JSON object"),
        (Reply(body="{truncated", content_type="application/json"), "does not parse"),
        (video_job("video_1", "paused"), "unknown status 'paused'"),
    ],
)
def test_openai_malformed_job_answer_is_retryable_and_says_what_is_wrong(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider, reply: Reply, says: str
) -> None:
    gateway.script(reply)

    with pytest.raises(RetryableError, match=says):
        openai_clips.poll("video_1")


@pytest.mark.parametrize(
    ("reply", "error", "says"),
    [
        (api_error(502, "Bad gateway", error_type="server_error"), RetryableError, "HTTP 502"),
        (video_content(b"\x00" * 4096, cut_after=100), RetryableError, "could not connect"),
        (video_content(b"<html>not here</html>", content_type="text/html"), NonRetryableError, "not a video"),
        (video_content(b""), NonRetryableError, "empty"),
    ],
)
def test_openai_failed_download_says_whether_another_attempt_can_help(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider, tmp_path: Path, reply: Reply, error: type, says: str
) -> None:
    gateway.script(reply)

    with pytest.raises(error, match=says):
        openai_clips.download("video_1", tmp_path / "clip.mp4")

    assert not (tmp_path / "clip.mp4").exists()


def test_openai_cancel_deletes_the_job_and_a_missing_job_counts_as_cancelled(
    gateway: FakeOpenAIServer, openai_clips: ClipProvider
) -> None:
    gateway.script(
        video_deleted("video_1"),
        api_error(404, "Video not found", code="not_found"),
        api_error(409, "Video is still in progress", code="invalid_state"),
    )

    assert openai_clips.cancel("video_1") is True
    assert openai_clips.cancel("video_2") is True
    assert openai_clips.cancel("video_3") is False
    assert [(r.method, r.path) for r in gateway.requests] == [
        ("DELETE", "/v1/videos/video_1"),
        ("DELETE", "/v1/videos/video_2"),
        ("DELETE", "/v1/videos/video_3"),
    ]


def test_openai_cost_is_the_list_price_of_the_whole_seconds_asked_for(openai_clips: ClipProvider) -> None:
    unknown = OpenAIClipProvider(make_client("sk-test", "http://127.0.0.1:9/v1"), "gateway/some-video-model")

    assert openai_clips.cost_usd(2.5) == pytest.approx(0.30)  # 3 s at $0.10
    assert unknown.cost_usd(4) is None


def test_openai_provider_needs_a_model_and_says_why() -> None:
    with pytest.raises(SettingsError, match="set model to a video model"):
        build_clip_provider(ClipProviderSettings(provider="openai", api_key="sk-test"))


def test_openai_key_is_read_from_secrets_manager(aws: None, gateway: FakeOpenAIServer) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="clip-key", SecretString=json.dumps({"api_key": "sk-from-secret"}))["ARN"]
    settings = ClipProviderSettings(
        provider="openai", model=GATEWAY_MODEL, base_url=gateway.base_url, api_key_secret_arn=arn
    )
    gateway.script(video_job("video_9", "queued"))

    build_clip_provider(settings, secrets=secrets).poll("video_9")

    assert gateway.requests[0].headers["authorization"] == "Bearer sk-from-secret"


# --- Veo through google-genai (Vertex AI) ----------------------------------------------------------


@pytest.fixture
def vertex() -> Iterator[FakeGenAIServer]:
    with FakeGenAIServer() as fake:
        yield fake


@pytest.fixture
def veo(vertex: FakeGenAIServer) -> ClipProvider:
    settings = ClipProviderSettings(provider="veo", base_url=vertex.base_url, api_key="g-test", timeout_s=5)
    return build_clip_provider(settings)


def test_veo_clip_is_submitted_with_the_scene_image_polled_until_done_and_downloaded_as_mp4(
    vertex: FakeGenAIServer, veo: ClipProvider, mp4: bytes, tmp_path: Path
) -> None:
    image = png_bytes((36, 64))
    vertex.script(
        veo_operation(OP),
        veo_operation(OP),
        veo_operation(OP, done=True, videos=[mp4]),
        veo_operation(OP, done=True, videos=[mp4]),
    )

    job_id = veo.submit(request(seconds=3.2, width=720, height=1280, image_png=image))
    first, second = veo.poll(job_id), veo.poll(job_id)
    out = veo.download(job_id, tmp_path / "clip.mp4")

    assert job_id == OP
    assert first.state == "in_progress"
    assert (second.state, second.progress) == ("completed", 100)
    assert out.read_bytes() == mp4 and probe(str(out)).audio is not None
    submit = vertex.requests[0]
    assert (submit.method, submit.path) == ("POST", f"/v1beta1/publishers/google/models/{VEO_MODEL}:predictLongRunning")
    assert submit.headers["x-goog-api-key"] == "g-test"
    instance = submit.body["instances"][0]
    assert instance["prompt"] == "a lighthouse at dusk"
    assert base64.b64decode(instance["image"]["bytesBase64Encoded"]) == image
    assert instance["image"]["mimeType"] == "image/png"
    # 3.2 s rounds up to Veo 3's next length (4, 6 or 8 s); a portrait scene asks for 9:16.
    assert submit.body["parameters"] == {
        "sampleCount": 1,
        "durationSeconds": 4,
        "aspectRatio": "9:16",
        "resolution": "720p",
        "generateAudio": True,
    }
    fetch_path = f"/v1beta1/{OP.rpartition('/operations/')[0]}:fetchPredictOperation"
    assert [(r.method, r.path, r.body) for r in vertex.requests[1:]] == [
        ("POST", fetch_path, {"operationName": OP})
    ] * 3


def test_veo_scene_longer_than_the_model_makes_is_refused_before_any_request(
    vertex: FakeGenAIServer, veo: ClipProvider
) -> None:
    with pytest.raises(NonRetryableError, match="at most 8 s"):
        veo.submit(request(seconds=12))

    assert vertex.requests == []


@pytest.mark.parametrize(("headers", "wait_s"), [({"retry_after": "7"}, 7.0), ({}, 10.0)])
def test_veo_429_is_rate_limited_for_retry_after_else_ten_seconds(
    vertex: FakeGenAIServer, veo: ClipProvider, headers: dict[str, str], wait_s: float
) -> None:
    vertex.script(google_error(429, "Quota exceeded for aiplatform.googleapis.com/online_prediction", **headers))

    with pytest.raises(RateLimitedError, match="Quota exceeded") as caught:
        veo.submit(request())

    assert caught.value.retry_after_s == wait_s


def test_veo_500_is_retryable_and_400_is_not(vertex: FakeGenAIServer, veo: ClipProvider) -> None:
    vertex.script(google_error(500, "Internal error encountered."), google_error(400, "Unsupported aspect ratio"))

    with pytest.raises(RetryableError, match="HTTP 500"):
        veo.poll(OP)
    with pytest.raises(NonRetryableError, match="Unsupported aspect ratio"):
        veo.submit(request())


def test_veo_rai_filtered_clip_polls_as_refused_with_the_filter_reasons(
    vertex: FakeGenAIServer, veo: ClipProvider
) -> None:
    reasons = ["The video was filtered for violence.", "Support code 58061214"]
    vertex.script(veo_operation(OP, done=True, rai_filtered_count=1, rai_filtered_reasons=reasons))

    status = veo.poll(OP)

    assert (status.state, status.refused) == ("failed", True)
    assert status.error == "The video was filtered for violence.; Support code 58061214"


def test_veo_operation_error_polls_as_failed_not_refused(vertex: FakeGenAIServer, veo: ClipProvider) -> None:
    vertex.script(veo_operation(OP, error=(13, "Video generation failed internally.")))

    status = veo.poll(OP)

    assert (status.state, status.refused) == ("failed", False)
    assert status.error == "Video generation failed internally. (code 13)"


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (Reply(body="<html>proxy error</html>"), "not an operation"),
        (Reply(body={"metadata": {}}), "without an operation name"),
    ],
)
def test_veo_malformed_submit_answer_is_retryable(
    vertex: FakeGenAIServer, veo: ClipProvider, reply: Reply, says: str
) -> None:
    vertex.script(reply)

    with pytest.raises(RetryableError, match=says):
        veo.submit(request())


@pytest.mark.parametrize(
    ("reply", "error", "says"),
    [
        (google_error(503, "The service is currently unavailable."), RetryableError, "HTTP 503"),
        (Reply(body={"name": OP, "done": True, "response": {"videos": []}}, cut_after=20), RetryableError, "reach"),
        (veo_operation(OP, done=True, videos=[b"GIF89a not a clip"]), NonRetryableError, "not a video"),
        (veo_operation(OP, done=True, gcs_uris=["gs://bucket/clip.mp4"]), NonRetryableError, "gs://bucket/clip.mp4"),
        (veo_operation(OP), NonRetryableError, "poll until it is completed"),
    ],
)
def test_veo_failed_download_says_whether_another_attempt_can_help(
    vertex: FakeGenAIServer, veo: ClipProvider, tmp_path: Path, reply: Reply, error: type, says: str
) -> None:
    vertex.script(reply)

    with pytest.raises(error, match=says):
        veo.download(OP, tmp_path / "clip.mp4")

    assert not (tmp_path / "clip.mp4").exists()


def test_veo_cannot_cancel_and_sends_nothing(vertex: FakeGenAIServer, veo: ClipProvider) -> None:
    assert veo.cancel(OP) is False
    assert vertex.requests == []


def test_veo_cost_is_the_list_price_of_the_length_asked_for(veo: ClipProvider) -> None:
    assert isinstance(veo, VeoClipProvider) and veo.model == VEO_MODEL
    assert veo.cost_usd(5) == pytest.approx(2.40)  # 6 s at $0.40


def test_veo_without_vertex_ai_is_refused_with_the_reason() -> None:
    with pytest.raises(SettingsError, match="only on Vertex AI"):
        build_clip_provider(ClipProviderSettings(provider="veo", api_key="g-test", vertexai=False))


WITHOUT_GENAI = """
import sys
sys.modules["google.genai"] = None  # as if the generate extra were not installed
from offload.ai.video_providers import ClipProviderSettings, build_clip_provider
from offload.settings import SettingsError
try:
    build_clip_provider(ClipProviderSettings(provider="veo", api_key="g-test"))
except SettingsError as exc:
    print(exc)
"""


def test_the_providers_import_without_google_genai_and_veo_names_the_extra_to_install() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_GENAI], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "pip install 'offload[generate]'" in done.stdout


# --- local ffmpeg renderer -------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_local_clip_has_the_size_duration_and_audio_asked_for(tmp_path: Path) -> None:
    clips = LocalClipProvider(DirBlobStore(tmp_path / "blobs"))

    job_id = clips.submit(request(seconds=1.5, width=320, height=180, caption="Dusk falls on the harbour"))
    facts = probe(str(clips.download(job_id, tmp_path / "clip.mp4")))

    assert facts.video is not None and facts.audio is not None
    assert (facts.video.width, facts.video.height, facts.video.codec, facts.video.pix_fmt) == (
        320,
        180,
        "h264",
        "yuv420p",
    )
    assert facts.video.fps == pytest.approx(30)
    assert facts.duration_s == pytest.approx(1.5, abs=1 / 30)
    assert facts.audio.codec == "aac"


def test_local_clip_zooms_over_the_scene_image(tmp_path: Path) -> None:
    clips = LocalClipProvider(DirBlobStore(tmp_path / "blobs"))
    picture = Image.new("RGB", (64, 64), "white")
    picture.paste(Image.new("RGB", (32, 64), "blue"), (0, 0))  # left half blue

    job_id = clips.submit(request(seconds=1, width=128, height=128, image_png=_png(picture)))
    facts = probe(str(clips.download(job_id, tmp_path / "clip.mp4")))
    first = _frame(tmp_path / "clip.mp4", 0)

    assert facts.duration_s == pytest.approx(1.0, abs=1 / 30)
    red, _, blue = first.getpixel((16, 64))[:3]
    assert blue > 150 and red < 100  # the scene image's blue half, not the gradient
    assert min(first.getpixel((112, 64))[:3]) > 200  # and its white half


def test_local_poll_honours_the_latency_from_the_submit_time_in_the_job_id(tmp_path: Path) -> None:
    clock = Clock(1_800_000_000.0)
    blobs = DirBlobStore(tmp_path / "blobs")
    job_id = LocalClipProvider(blobs, latency_s=10, clock=clock).submit(request(seconds=1, width=64, height=64))
    # Each step is its own invocation: a fresh provider on the same blob store polls and downloads.
    later = LocalClipProvider(blobs, latency_s=10, clock=clock)

    clock.now += 4
    running = later.poll(job_id)
    with pytest.raises(NonRetryableError, match="in_progress"):
        later.download(job_id, tmp_path / "early.mp4")
    clock.now += 6
    done = later.poll(job_id)

    assert (running.state, running.progress) == ("in_progress", 40)
    assert (done.state, done.progress) == ("completed", 100)
    assert (
        later.download(job_id, tmp_path / "clip.mp4").read_bytes()
        == (tmp_path / "blobs" / later.key(job_id)).read_bytes()
    )
    assert later.cancel(job_id) is True and later.cost_usd(5) == 0.0


def test_local_clip_missing_from_the_blob_store_polls_failed(tmp_path: Path) -> None:
    clips = LocalClipProvider(DirBlobStore(tmp_path / "blobs"))
    job_id = clips.submit(request(seconds=1, width=64, height=64))
    (tmp_path / "blobs" / clips.key(job_id)).unlink()

    status = clips.poll(job_id)

    assert status.state == "failed" and status.error is not None and "submit again" in status.error


def test_local_provider_refuses_odd_sizes_and_foreign_job_ids(tmp_path: Path) -> None:
    clips = build_clip_provider(ClipProviderSettings(), blobs=DirBlobStore(tmp_path))

    with pytest.raises(NonRetryableError, match="ask for 320x180"):
        clips.submit(request(width=321, height=180))
    with pytest.raises(NonRetryableError, match="not a local clip job id"):
        clips.poll("video_1")
    with pytest.raises(SettingsError, match="pass blobs="):
        build_clip_provider(ClipProviderSettings())


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _frame(path: Path, index: int) -> Image.Image:
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_image()
    raise AssertionError(f"{path} has no frame {index}")
