"""The OpenAI script writer and scene imager through the real SDK against the loopback fake openai_server."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import boto3
import openai
import pytest
from PIL import Image

from offload.ai.generation import MAX_SCENE_S, MIN_SCENE_S, ContentRefusedError, Scene
from offload.ai.generation_factory import GenerationAiSettings, build_script_and_imager
from offload.ai.local_generation import LocalSceneImager
from offload.ai.openai_generation import OpenAISceneImager, OpenAIScriptWriter, nearest_size
from offload.errors import NonRetryableError, RateLimitedError, RetryableError
from offload.packs.core.http_util import Allowlist
from offload.testing.aws import LOOPBACK_HOSTS
from offload.testing.openai_server import FakeOpenAIServer, api_error, chat_completion, image_generation
from tests.support.http_files import serve_files

SCENE = Scene(text="The harbour at dawn", visual="Fishing boats leave a stone harbour at dawn", seconds=4)


def script_answer(*scenes: dict[str, object]) -> str:
    return json.dumps({"scenes": list(scenes)})


def scene_answer(text: str = "Boats leave", visual: str = "Boats leave the harbour", seconds: float = 4) -> dict:
    return {"text": text, "visual": visual, "seconds": seconds}


def png(size: tuple[int, int]) -> bytes:
    """An image in three horizontal bands, red, green and blue from the top, to see how it was cropped."""
    im = Image.new("RGB", size, "red")
    third = size[1] // 3
    im.paste(Image.new("RGB", (size[0], third), (0, 255, 0)), (0, third))
    im.paste(Image.new("RGB", (size[0], size[1] - 2 * third), (0, 0, 255)), (0, 2 * third))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def writer(openai_client: openai.OpenAI) -> OpenAIScriptWriter:
    return OpenAIScriptWriter(openai_client)


@pytest.fixture
def imager(openai_client: openai.OpenAI) -> OpenAISceneImager:
    """The imager as a local cloud wires it: image downloads may reach the loopback file server."""
    return OpenAISceneImager(openai_client, allow=Allowlist.parse(LOOPBACK_HOSTS))


# --- script writer -----------------------------------------------------------------------------------


def test_script_request_asks_for_the_strict_scene_schema_with_the_prompt_and_style(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(chat_completion(script_answer(scene_answer())))

    writer.write("A day in a fishing village", style="35 mm film", clip_seconds=5, max_scenes=4)

    (request,) = openai_server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.body["model"] == "gpt-4o-mini"
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["required"] == ["scenes"] and schema["additionalProperties"] is False
    item = schema["properties"]["scenes"]["items"]
    assert set(item["required"]) == {"text", "visual", "seconds"} and item["additionalProperties"] is False
    user = request.body["messages"][-1]["content"]
    assert "A day in a fishing village" in user and "35 mm film" in user
    assert "at most 4 scenes" in user and "about 5 seconds" in user


def test_script_answer_becomes_scenes_in_order_with_whitespace_tidied(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(
        chat_completion(
            script_answer(
                scene_answer(" Dawn  breaks ", "A harbour\nat dawn", 4),
                scene_answer("Boats leave", "Boats leave the harbour", 6.5),
            )
        )
    )

    scenes = writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)

    assert scenes == [
        Scene(text="Dawn breaks", visual="A harbour at dawn", seconds=4),
        Scene(text="Boats leave", visual="Boats leave the harbour", seconds=6.5),
    ]


def test_scene_lengths_are_clamped_and_extra_scenes_dropped(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(
        chat_completion(
            script_answer(
                scene_answer("one", seconds=0.2), scene_answer("two", seconds=90), scene_answer("three", seconds=3)
            )
        )
    )

    scenes = writer.write("Three things", style=None, clip_seconds=5, max_scenes=2)

    assert [(s.text, s.seconds) for s in scenes] == [("one", MIN_SCENE_S), ("two", MAX_SCENE_S)]


def test_script_answer_that_is_not_json_is_retryable_and_quotes_it(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(chat_completion("Scene 1: a harbour."))

    with pytest.raises(RetryableError, match=r"not JSON.*Scene 1: a harbour"):
        writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)


def test_script_answer_missing_a_field_is_retryable_and_names_it(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(chat_completion(script_answer({"text": "Dawn", "seconds": 4})))

    with pytest.raises(RetryableError, match=r"not a video script \(scenes\.0\.visual: Field required\)"):
        writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)


def test_script_with_zero_scenes_is_retryable(openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter) -> None:
    openai_server.script(chat_completion(script_answer()))

    with pytest.raises(RetryableError, match="zero scenes"):
        writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)


def test_scene_with_a_blank_visual_is_retryable_and_says_which(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(chat_completion(script_answer(scene_answer(), scene_answer(visual="  "))))

    with pytest.raises(RetryableError, match="scene 2 with an empty visual"):
        writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)


def test_script_refusal_is_content_refused_with_the_models_reason(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(chat_completion(None, refusal="I can't write that video."))

    with pytest.raises(ContentRefusedError) as caught:
        writer.write("Something harmful", style=None, clip_seconds=5, max_scenes=4)

    assert (caught.value.provider, caught.value.reason) == ("openai", "I can't write that video.")


def test_script_rate_limit_waits_as_retry_after_says(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(api_error(429, "Rate limit reached", code="rate_limit_exceeded", Retry_After="12"))

    with pytest.raises(RateLimitedError) as caught:
        writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)

    assert caught.value.retry_after_s == 12.0


def test_script_server_error_is_retryable_and_not_retried_by_the_sdk(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    openai_server.script(api_error(500, "The openai_server had an error", error_type="server_error"))

    with pytest.raises(RetryableError, match=r"HTTP 500.*writing a video script"):
        writer.write("A fishing village", style=None, clip_seconds=5, max_scenes=4)

    assert len(openai_server.requests) == 1


def test_blank_prompt_is_refused_before_any_request(
    openai_server: FakeOpenAIServer, writer: OpenAIScriptWriter
) -> None:
    with pytest.raises(NonRetryableError, match="prompt is empty"):
        writer.write("   ", style=None, clip_seconds=5, max_scenes=4)

    assert openai_server.requests == []


# --- scene imager ------------------------------------------------------------------------------------


def test_imager_asks_for_the_nearest_supported_size_and_returns_a_png_of_the_exact_size(
    openai_server: FakeOpenAIServer, imager: OpenAISceneImager
) -> None:
    openai_server.script(image_generation(png((1536, 1024)), size="1536x1024"))

    data = imager.render(SCENE, style="oil painting", width=1280, height=720)

    (request,) = openai_server.requests
    assert (request.method, request.path) == ("POST", "/v1/images/generations")
    assert request.body["model"] == "gpt-image-1"
    assert (request.body["size"], request.body["n"]) == ("1536x1024", 1)
    assert "response_format" not in request.body  # GPT image models refuse it
    assert "Fishing boats leave a stone harbour at dawn" in request.body["prompt"]
    assert "oil painting" in request.body["prompt"]
    out = Image.open(io.BytesIO(data))
    assert (out.format, out.size, out.mode) == ("PNG", (1280, 720), "RGB")


def test_imager_crops_a_square_image_to_a_wide_frame_around_its_centre(
    openai_server: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    square_only = OpenAISceneImager(openai_client, "dall-e-2")
    openai_server.script(image_generation(png((1024, 1024)), model="dall-e-2"))

    data = square_only.render(SCENE, style=None, width=640, height=160)

    assert openai_server.requests[0].body["size"] == "1024x1024"
    assert openai_server.requests[0].body["response_format"] == "b64_json"
    out = Image.open(io.BytesIO(data)).convert("RGB")
    assert out.size == (640, 160)
    # Cover, centred: scaled to the full width, then the middle rows kept, which are all the green band.
    assert {out.getpixel(xy) for xy in ((0, 0), (639, 0), (320, 80), (0, 159), (639, 159))} == {(0, 255, 0)}


def test_portrait_frames_ask_for_a_portrait_image() -> None:
    assert nearest_size(720, 1280, ((1024, 1024), (1536, 1024), (1024, 1536))) == (1024, 1536)
    assert nearest_size(1000, 1000, ((1024, 1024), (1536, 1024), (1024, 1536))) == (1024, 1024)


def test_imager_downloads_an_image_given_by_url(
    openai_server: FakeOpenAIServer, imager: OpenAISceneImager, tmp_path: Path
) -> None:
    (tmp_path / "scene.png").write_bytes(png((1024, 1536)))
    with serve_files(tmp_path) as base:
        openai_server.script(image_generation(url=f"{base}/scene.png?sig=secret"))

        data = imager.render(SCENE, style=None, width=720, height=1280)

    assert Image.open(io.BytesIO(data)).size == (720, 1280)


def test_imager_url_that_is_gone_fails_without_showing_its_signature(
    openai_server: FakeOpenAIServer, imager: OpenAISceneImager, tmp_path: Path
) -> None:
    with serve_files(tmp_path) as base:
        openai_server.script(image_generation(url=f"{base}/gone.png?sig=secret"))

        with pytest.raises(NonRetryableError, match=r"gone\.png answered HTTP 404") as caught:
            imager.render(SCENE, style=None, width=720, height=1280)

    assert "secret" not in str(caught.value)  # a signed URL's query is not logged


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/role.png", "the cloud metadata service"),
        ("http://10.0.0.7/scene.png?sig=secret", "private"),
        ("http://[fd00:ec2::254]/scene.png", "the cloud metadata service"),
    ],
)
def test_imager_refuses_an_image_url_at_a_private_or_metadata_address(
    openai_server: FakeOpenAIServer, openai_client: openai.OpenAI, url: str, why: str
) -> None:
    # Given a provider answer pointing the download at the instance metadata service or a private host,
    # and an imager with no allowlist (as deployed)
    openai_server.script(image_generation(url=url))
    imager = OpenAISceneImager(openai_client)

    # When the scene is drawn, then nothing is fetched and the error names the refused address
    with pytest.raises(NonRetryableError, match=f"image URL offload won't download.*{why}") as caught:
        imager.render(SCENE, style=None, width=720, height=1280)

    assert "sig=secret" not in str(caught.value)  # a signed URL's query is not shown


def test_imager_without_the_allowlist_refuses_even_the_loopback_file_server(
    openai_server: FakeOpenAIServer, openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    (tmp_path / "scene.png").write_bytes(png((1024, 1536)))
    with serve_files(tmp_path) as base:
        openai_server.script(image_generation(url=f"{base}/scene.png"))

        with pytest.raises(NonRetryableError, match=r"loopback.*OFFLOAD_HTTP_ALLOW_HOSTS"):
            OpenAISceneImager(openai_client).render(SCENE, style=None, width=720, height=1280)


def test_moderation_blocked_image_is_content_refused_with_the_api_message(
    openai_server: FakeOpenAIServer, imager: OpenAISceneImager
) -> None:
    message = "Your request was rejected by the safety system."
    openai_server.script(api_error(400, message, code="moderation_blocked"))

    with pytest.raises(ContentRefusedError) as caught:
        imager.render(SCENE, style=None, width=1280, height=720)

    assert (caught.value.provider, caught.value.reason) == ("openai", message)


def test_image_rate_limit_waits_as_retry_after_says(openai_server: FakeOpenAIServer, imager: OpenAISceneImager) -> None:
    openai_server.script(api_error(429, "Rate limit reached for images", code="rate_limit_exceeded", Retry_After="30"))

    with pytest.raises(RateLimitedError) as caught:
        imager.render(SCENE, style=None, width=1280, height=720)

    assert caught.value.retry_after_s == 30.0


def test_image_server_error_is_retryable(openai_server: FakeOpenAIServer, imager: OpenAISceneImager) -> None:
    openai_server.script(api_error(500, "The openai_server had an error", error_type="server_error"))

    with pytest.raises(RetryableError, match=r"HTTP 500.*drawing a scene image with gpt-image-1"):
        imager.render(SCENE, style=None, width=1280, height=720)


def test_image_data_that_does_not_decode_is_retryable(
    openai_server: FakeOpenAIServer, imager: OpenAISceneImager
) -> None:
    openai_server.script(image_generation(base64.b64encode(b"<html>oops</html>").decode("ascii")))

    with pytest.raises(RetryableError, match="does not decode"):
        imager.render(SCENE, style=None, width=1280, height=720)


def test_other_bad_request_is_not_refusal(openai_server: FakeOpenAIServer, imager: OpenAISceneImager) -> None:
    openai_server.script(api_error(400, "Invalid size", code="invalid_value"))

    with pytest.raises(NonRetryableError, match="Invalid size") as caught:
        imager.render(SCENE, style=None, width=1280, height=720)

    assert not isinstance(caught.value, ContentRefusedError)


# --- factory -----------------------------------------------------------------------------------------


def test_factory_with_a_secret_key_uses_the_api_for_script_and_images(
    aws: None, openai_server: FakeOpenAIServer
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="offload-generate-key", SecretString="sk-from-secret")["ARN"]
    settings = GenerationAiSettings(
        api_key_secret_arn=arn, base_url=openai_server.base_url, script_model="gpt-4.1-mini"
    )
    openai_server.script(chat_completion(script_answer(scene_answer())), image_generation(png((1536, 1024))))

    writer, imager = build_script_and_imager(settings, secrets=secrets)
    (scene,) = writer.write("A fishing village", style=None, clip_seconds=4, max_scenes=3)
    imager.render(scene, style=None, width=320, height=180)

    assert [r.path for r in openai_server.requests] == ["/v1/chat/completions", "/v1/images/generations"]
    assert {r.headers["authorization"] for r in openai_server.requests} == {"Bearer sk-from-secret"}
    assert openai_server.requests[0].body["model"] == "gpt-4.1-mini"
    assert openai_server.requests[1].body["model"] == "gpt-image-1"


def test_factory_can_keep_images_local_while_the_script_uses_the_api(openai_server: FakeOpenAIServer) -> None:
    settings = GenerationAiSettings(api_key="sk-test", base_url=openai_server.base_url, images="local")

    writer, imager = build_script_and_imager(settings)

    assert (writer.model, imager.model) == ("gpt-4o-mini", "local-pillow")
    assert isinstance(imager, LocalSceneImager)
