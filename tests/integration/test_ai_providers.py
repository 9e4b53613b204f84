"""The OpenAI adapter through the real SDK against a loopback fake server, and the S3 vector index on moto."""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator

import boto3
import openai
import pytest
from PIL import Image

from offload.ai.factory import AiSettings, providers_from_settings
from offload.ai.openai_adapter import OpenAIEmbedder, OpenAIVisionAnalyzer, make_client
from offload.ai.vector_index import S3VectorIndex
from offload.errors import NonRetryableError, RateLimitedError, RetryableError
from offload.testing.openai_server import FakeOpenAIServer, Reply, api_error, chat_completion, embeddings

GOOD_ANSWER = {
    "description": "A red apple on a wooden table.",
    "tags": ["Apple", "fruit", "apple", " Table "],
    "category": "Photo",
    "dominant_colors": ["#C0392B", "#8e5b3a", "not-a-colour"],
    "mood": "Warm",
}


def png_bytes(size: tuple[int, int] = (8, 4), color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    sdk = make_client("sk-test", server.base_url, timeout_s=5)
    yield sdk
    sdk.close()


@pytest.fixture
def vision(client: openai.OpenAI) -> OpenAIVisionAnalyzer:
    return OpenAIVisionAnalyzer(client)


@pytest.fixture
def embedder(client: openai.OpenAI) -> OpenAIEmbedder:
    return OpenAIEmbedder(client)


# --- vision: request shape and parsing -------------------------------------------------------------


def test_vision_request_sends_model_image_data_url_and_strict_schema(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(chat_completion(json.dumps(GOOD_ANSWER)))
    image = png_bytes()

    vision.describe(image, content_type="image/png")

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "gpt-4o-mini"
    parts = request.body["messages"][0]["content"]
    image_url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert image_url.startswith("data:image/jpeg;base64,")  # the normalised copy: an opaque PNG becomes a JPEG
    shown = Image.open(io.BytesIO(base64.b64decode(image_url.split(",", 1)[1])))
    assert (shown.format, shown.size) == ("JPEG", (8, 4))
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert set(schema["required"]) == {"description", "tags", "category", "dominant_colors", "mood"}
    assert schema["additionalProperties"] is False


def sent_image(server: FakeOpenAIServer) -> tuple[str, bytes]:
    """The media type and bytes of the data URL in the (only) chat request the server received."""
    (request,) = server.requests
    parts = request.body["messages"][0]["content"]
    url = next(p for p in parts if p["type"] == "image_url")["image_url"]["url"]
    header, payload = url.split(",", 1)
    return header.removeprefix("data:").removesuffix(";base64"), base64.b64decode(payload)


def test_vision_is_sent_a_png_when_the_image_has_transparency(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(chat_completion(json.dumps(GOOD_ANSWER)))
    out = io.BytesIO()
    Image.new("RGBA", (40, 20), (255, 0, 0, 128)).save(out, format="PNG")

    vision.describe(out.getvalue(), content_type="image/png")

    media_type, data = sent_image(server)
    shown = Image.open(io.BytesIO(data))
    assert (media_type, shown.format, shown.mode) == ("image/png", "PNG", "RGBA")


def test_a_large_tiff_is_sent_as_a_downscaled_jpeg(server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer) -> None:
    server.script(chat_completion(json.dumps(GOOD_ANSWER)))
    out = io.BytesIO()
    Image.effect_noise((3000, 2000), 64).convert("RGB").save(out, format="TIFF")  # ~18 MB, uncompressed

    vision.describe(out.getvalue(), content_type="image/tiff")

    media_type, data = sent_image(server)
    shown = Image.open(io.BytesIO(data))
    assert (media_type, shown.format) == ("image/jpeg", "JPEG")
    assert shown.size == (1536, 1024) and len(data) < 2 * 1024 * 1024


def test_vision_structured_answer_is_parsed_and_normalised(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(chat_completion(json.dumps(GOOD_ANSWER), model="gpt-4o-mini-2024-07-18"))

    metadata = vision.describe(png_bytes(), content_type="image/png")

    assert metadata.description == "A red apple on a wooden table."
    assert metadata.tags == ["apple", "fruit", "table"]
    assert metadata.category == "photo"
    assert metadata.dominant_colors == ["#c0392b", "#8e5b3a"]
    assert metadata.mood == "warm"
    assert (metadata.provider, metadata.model) == ("openai", "gpt-4o-mini-2024-07-18")


def test_vision_answer_that_is_not_json_is_retryable_and_quotes_it(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(chat_completion("Sure! Here is a red apple."))

    with pytest.raises(RetryableError, match=r"not JSON.*Sure! Here is a red apple"):
        vision.describe(png_bytes(), content_type="image/png")


def test_vision_answer_missing_fields_is_retryable_and_names_them(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(chat_completion(json.dumps({"description": "an apple", "tags": []})))

    with pytest.raises(RetryableError, match=r"category: Field required.*mood: Field required"):
        vision.describe(png_bytes(), content_type="image/png")


def test_vision_refusal_is_not_retryable(server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer) -> None:
    server.script(chat_completion(None, refusal="I can't help with that."))

    with pytest.raises(NonRetryableError, match=r"refused.*can't help"):
        vision.describe(png_bytes(), content_type="image/png")


def test_vision_bytes_that_are_not_an_image_fail_without_calling_the_api(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    with pytest.raises(NonRetryableError, match="not an image: cannot identify image file"):
        vision.describe(b"<html>not an image</html>", content_type="image/png")

    assert server.requests == []


# --- errors ----------------------------------------------------------------------------------------


def test_rate_limited_call_raises_with_retry_after_then_next_call_succeeds(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(
        api_error(429, "Rate limit reached", code="rate_limit_exceeded", Retry_After="7"),
        chat_completion(json.dumps(GOOD_ANSWER)),
    )

    with pytest.raises(RateLimitedError) as caught:
        vision.describe(png_bytes(), content_type="image/png")
    metadata = vision.describe(png_bytes(), content_type="image/png")

    assert caught.value.retry_after_s == 7.0
    assert metadata.category == "photo"
    assert len(server.requests) == 2  # the SDK did not retry on its own


def test_rate_limit_without_retry_after_waits_five_seconds(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(api_error(429, "Rate limit reached", code="rate_limit_exceeded"))

    with pytest.raises(RateLimitedError) as caught:
        vision.describe(png_bytes(), content_type="image/png")

    assert caught.value.retry_after_s == 5.0


def test_exhausted_quota_is_not_retryable(server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer) -> None:
    server.script(api_error(429, "You exceeded your current quota", code="insufficient_quota"))

    with pytest.raises(NonRetryableError, match="billing"):
        vision.describe(png_bytes(), content_type="image/png")


def test_server_error_is_retryable_and_not_retried_by_the_sdk(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(api_error(500, "The server had an error", error_type="server_error"))

    with pytest.raises(RetryableError, match="HTTP 500"):
        vision.describe(png_bytes(), content_type="image/png")

    assert len(server.requests) == 1


def test_bad_request_is_not_retryable(server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer) -> None:
    server.script(api_error(400, "Invalid image URL"))

    with pytest.raises(NonRetryableError, match=r"HTTP 400.*Invalid image URL"):
        vision.describe(png_bytes(), content_type="image/png")


def test_unknown_model_is_not_retryable_and_says_to_check_the_name(
    server: FakeOpenAIServer, vision: OpenAIVisionAnalyzer
) -> None:
    server.script(api_error(404, "The model `gpt-nope` does not exist", code="model_not_found"))

    with pytest.raises(NonRetryableError, match="check the model name"):
        vision.describe(png_bytes(), content_type="image/png")


def test_timeout_is_retryable(server: FakeOpenAIServer) -> None:
    server.script(Reply(body={}, delay_s=1.5))
    sdk = make_client("sk-test", server.base_url, timeout_s=0.3)

    with pytest.raises(RetryableError, match="timed out"):
        OpenAIVisionAnalyzer(sdk).describe(png_bytes(), content_type="image/png")
    sdk.close()


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sdk = make_client("sk-test", f"http://127.0.0.1:{port}/v1", timeout_s=2)

    with pytest.raises(RetryableError, match="could not connect"):
        OpenAIEmbedder(sdk).embed(["hello"])
    sdk.close()


# --- embeddings ------------------------------------------------------------------------------------


def test_embeddings_request_names_model_inputs_and_float_encoding(
    server: FakeOpenAIServer, embedder: OpenAIEmbedder
) -> None:
    server.script(embeddings([[0.1] * 1536, [0.2] * 1536]))

    embedder.embed(["a red apple", "a green pear"])

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/embeddings")
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["input"] == ["a red apple", "a green pear"]
    assert request.body["encoding_format"] == "float"


def test_embeddings_come_back_in_input_order_whatever_the_answer_order(
    server: FakeOpenAIServer, embedder: OpenAIEmbedder
) -> None:
    first, second = [1.0] + [0.0] * 1535, [0.0, 1.0] + [0.0] * 1534
    server.script(embeddings([first, second], order=[1, 0]))

    vectors = embedder.embed(["first", "second"])

    assert vectors == [first, second]
    assert embedder.dimensions == 1536


def test_embeddings_of_the_wrong_size_are_not_retryable(server: FakeOpenAIServer, embedder: OpenAIEmbedder) -> None:
    server.script(embeddings([[0.5] * 3]))

    with pytest.raises(NonRetryableError, match="expected 1536"):
        embedder.embed(["short"])


def test_shortened_embeddings_are_requested_from_the_model(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.script(embeddings([[0.5] * 256]))

    OpenAIEmbedder(client, dimensions=256).embed(["hello"])

    assert server.requests[0].body["dimensions"] == 256


# --- factory ---------------------------------------------------------------------------------------


def test_factory_reads_the_key_from_secrets_manager_and_uses_the_base_url(aws: None, server: FakeOpenAIServer) -> None:
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="offload-ai-key", SecretString=json.dumps({"api_key": "sk-from-secret"})
    )["ARN"]
    settings = AiSettings(api_key_secret_arn=arn, base_url=server.base_url, embedding_model="text-embedding-3-large")
    server.script(embeddings([[0.0] * 3072]))

    providers = providers_from_settings(settings, boto3.client("secretsmanager", region_name="us-east-1"))
    providers.embedder.embed(["hello"])

    assert providers.kind == "openai"
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-secret"
    assert server.requests[0].body["model"] == "text-embedding-3-large"


# --- S3 vector index on moto -----------------------------------------------------------------------

BUCKET = "offload-test-vectors"


@pytest.fixture
def s3(aws: None) -> object:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def index(s3: object) -> S3VectorIndex:
    s3_index = S3VectorIndex(s3, BUCKET, "vectors/images")
    s3_index.upsert("cat.jpg", [1.0, 0.0, 0.0], {"caption": "a cat"})
    s3_index.upsert("dog.jpg", [0.8, 0.6, 0.0], {"caption": "a dog"})
    s3_index.upsert("car.jpg", [0.0, 0.0, 1.0], {"caption": "a car"})
    return s3_index


def test_s3_index_query_returns_nearest_first_with_cosine_scores(index: S3VectorIndex) -> None:
    matches = index.query([1.0, 0.1, 0.0], limit=3)

    assert [m.key for m in matches] == ["cat.jpg", "dog.jpg", "car.jpg"]
    assert matches[0].score == pytest.approx(1 / (1.01**0.5))
    assert matches[1].score == pytest.approx(0.86 / (1.01**0.5))
    assert matches[2].score == pytest.approx(0.0)
    assert matches[0].metadata == {"caption": "a cat"}


def test_s3_index_stores_one_json_object_per_vector_under_the_prefix(index: S3VectorIndex, s3: object) -> None:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="vectors/images/")  # type: ignore[attr-defined]

    assert sorted(o["Key"] for o in listed["Contents"]) == [
        "vectors/images/car.jpg.json",
        "vectors/images/cat.jpg.json",
        "vectors/images/dog.jpg.json",
    ]


def test_s3_index_delete_removes_the_vector(index: S3VectorIndex) -> None:
    index.query([1.0, 0.0, 0.0], limit=1)  # warm the cache first: delete must update it too

    index.delete("cat.jpg")

    assert [m.key for m in index.query([1.0, 0.0, 0.0], limit=3)] == ["dog.jpg", "car.jpg"]


def test_s3_index_sees_writes_and_deletes_made_by_another_instance(index: S3VectorIndex, s3: object) -> None:
    index.query([1.0, 0.0, 0.0], limit=3)  # this instance's cache now holds all three
    other = S3VectorIndex(s3, BUCKET, "vectors/images/")

    other.upsert("car.jpg", [1.0, 0.0, 0.0], {"caption": "a red car"})
    other.delete("dog.jpg")
    matches = index.query([1.0, 0.0, 0.0], limit=3)

    assert {m.key: m.metadata["caption"] for m in matches} == {"cat.jpg": "a cat", "car.jpg": "a red car"}


def test_s3_index_keys_with_slashes_round_trip(s3: object) -> None:
    s3_index = S3VectorIndex(s3, BUCKET, "vectors/")
    s3_index.upsert("uploads/2024/cat photo.jpg", [0.0, 1.0], {})

    assert s3_index.query([0.0, 1.0], limit=1)[0].key == "uploads/2024/cat photo.jpg"
