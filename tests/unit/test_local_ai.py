"""The local AI adapters, the in-memory vector index and provider selection (network disabled)."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw

from offload.ai.factory import AiSettings, build_providers
from offload.ai.local_adapter import NOT_RECOGNISED, HashingEmbedder, LocalVisionAnalyzer, color_name
from offload.ai.onnx_embedder import OnnxMiniLMEmbedder
from offload.ai.ports import ImageMetadata
from offload.ai.vector_index import InMemoryVectorIndex, cosine_similarity
from offload.errors import NonRetryableError


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def solid(size: tuple[int, int], color: str | tuple[int, int, int], fmt: str = "PNG") -> bytes:
    return encode(Image.new("RGB", size, color), fmt)


def noise(size: tuple[int, int], seed: int = 7) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", size)
    img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size[0] * size[1])])
    return encode(img)


def distance(hex_a: str, hex_b: str) -> float:
    a = [int(hex_a[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(hex_b[i : i + 2], 16) for i in (1, 3, 5)]
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5


@pytest.fixture
def analyzer() -> LocalVisionAnalyzer:
    return LocalVisionAnalyzer()


# --- local vision ----------------------------------------------------------------------------------


def test_red_image_has_red_as_its_dominant_colour(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((300, 200), (250, 5, 5), "JPEG"), content_type="image/jpeg")

    assert distance(metadata.dominant_colors[0], "#ff0000") < 30
    assert "red" in metadata.tags


def test_dominant_colours_are_ordered_by_area(analyzer: LocalVisionAnalyzer) -> None:
    img = Image.new("RGB", (100, 100), "#1e3a5f")
    ImageDraw.Draw(img).rectangle((0, 0, 99, 24), fill="#f2c14e")  # a quarter of the image

    metadata = analyzer.describe(encode(img), content_type="image/png")

    assert metadata.dominant_colors[:2] == ["#1e3a5f", "#f2c14e"]


def test_wide_image_is_landscape_with_its_dimensions(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((1920, 1080), "gray"), content_type="image/png")

    assert (metadata.width, metadata.height) == (1920, 1080)
    assert "landscape" in metadata.tags
    assert metadata.description.startswith("A 1920x1080 landscape image")


def test_tall_image_is_portrait(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((200, 400), "gray"), content_type="image/png")

    assert "portrait" in metadata.tags
    assert "landscape" not in metadata.tags


def test_equal_sides_make_a_square_image(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((64, 64), "gray"), content_type="image/png")

    assert "square" in metadata.tags


def test_dark_image_has_a_dark_mood(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((100, 100), (20, 25, 30)), content_type="image/png")

    assert metadata.mood.startswith("dark")
    assert "dark" in metadata.tags


def test_bright_saturated_image_is_bright_and_vivid(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((100, 100), (255, 230, 0)), content_type="image/png")

    assert metadata.mood == "bright and vivid"


def test_gray_image_is_tagged_grayscale(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((100, 100), (128, 128, 128)), content_type="image/png")

    assert "grayscale" in metadata.tags
    assert "vivid" not in metadata.mood


def test_flat_colours_are_a_graphic_and_noise_is_a_photo(analyzer: LocalVisionAnalyzer) -> None:
    flat = analyzer.describe(solid((200, 200), "navy"), content_type="image/png")
    busy = analyzer.describe(noise((200, 200)), content_type="image/png")

    assert (flat.category, busy.category) == ("graphic", "photo")


def test_description_is_honest_about_what_was_not_recognised(analyzer: LocalVisionAnalyzer) -> None:
    metadata = analyzer.describe(solid((120, 80), (250, 5, 5)), content_type="image/png")

    assert metadata.description.endswith(NOT_RECOGNISED)
    assert "red (#" in metadata.description
    assert (metadata.provider, metadata.model) == ("local", "local-pillow-v1")


def test_transparent_areas_are_measured_over_white(analyzer: LocalVisionAnalyzer) -> None:
    img = Image.new("RGBA", (50, 50), (0, 0, 0, 0))

    metadata = analyzer.describe(encode(img), content_type="image/png")

    assert metadata.dominant_colors[0] == "#ffffff"
    assert "transparent" in metadata.tags


def test_bytes_that_are_not_an_image_are_not_retryable(analyzer: LocalVisionAnalyzer) -> None:
    with pytest.raises(NonRetryableError, match=r"not an image: cannot identify image file"):
        analyzer.describe(b"<html>not an image</html>", content_type="image/png")


def test_local_analyzer_is_deterministic(analyzer: LocalVisionAnalyzer) -> None:
    image = noise((90, 60), seed=3)

    assert analyzer.describe(image, content_type="image/png") == analyzer.describe(image, content_type="image/png")


@pytest.mark.parametrize(
    ("hex_color", "name"),
    [("#ff0000", "red"), ("#00a000", "green"), ("#1e3a5f", "blue"), ("#f2c14e", "orange"), ("#101010", "black")],
)
def test_colour_names_follow_hue_and_lightness(hex_color: str, name: str) -> None:
    assert color_name(hex_color) == name


# --- image metadata model --------------------------------------------------------------------------


def test_metadata_tags_are_lowercased_deduplicated_and_capped() -> None:
    metadata = ImageMetadata(
        description="d",
        tags=["Cat", "cat", " CAT ", *[f"tag{i}" for i in range(20)]],
        category="photo",
        dominant_colors=[],
        mood="calm",
        provider="local",
        model="m",
    )

    assert metadata.tags[:2] == ["cat", "tag0"]
    assert len(metadata.tags) == 15


def test_metadata_refuses_colours_that_are_not_hex() -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        ImageMetadata(description="d", category="c", dominant_colors=["red"], mood="m", provider="p", model="m")


# --- hashing embedder ------------------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_across_instances() -> None:
    texts = ["a red sports car", "quarterly sales report"]

    assert HashingEmbedder().embed(texts) == HashingEmbedder().embed(texts)


def test_hashing_embedder_returns_unit_vectors_of_its_dimensions() -> None:
    embedder = HashingEmbedder(dimensions=128)

    (vector,) = embedder.embed(["a red sports car"])

    assert len(vector) == embedder.dimensions == 128
    assert sum(x * x for x in vector) == pytest.approx(1.0)


def test_texts_sharing_words_are_closer_than_unrelated_texts() -> None:
    query, related, unrelated = HashingEmbedder().embed(
        ["red sports car", "a fast red car on the road", "banana bread recipe"]
    )

    assert cosine_similarity(query, related) > cosine_similarity(query, unrelated) + 0.2


def test_text_without_words_embeds_to_zeros() -> None:
    (vector,) = HashingEmbedder(dimensions=64).embed(["  ...  "])

    assert vector == [0.0] * 64


# --- in-memory vector index ------------------------------------------------------------------------


@pytest.fixture
def index() -> InMemoryVectorIndex:
    memory = InMemoryVectorIndex()
    memory.upsert("cat", [1.0, 0.0], {"kind": "animal"})
    memory.upsert("dog", [0.6, 0.8], {"kind": "animal"})
    memory.upsert("car", [-1.0, 0.0], {"kind": "vehicle"})
    return memory


def test_in_memory_query_returns_nearest_first_with_cosine_scores(index: InMemoryVectorIndex) -> None:
    matches = index.query([2.0, 0.0], limit=3)

    assert [(m.key, round(m.score, 6)) for m in matches] == [("cat", 1.0), ("dog", 0.6), ("car", -1.0)]
    assert matches[0].metadata == {"kind": "animal"}


def test_in_memory_query_returns_at_most_limit_matches(index: InMemoryVectorIndex) -> None:
    assert [m.key for m in index.query([1.0, 0.0], limit=1)] == ["cat"]


def test_in_memory_upsert_replaces_the_vector_under_a_key(index: InMemoryVectorIndex) -> None:
    index.upsert("car", [1.0, 0.0], {"kind": "red car"})

    top = index.query([1.0, 0.0], limit=3)

    assert {m.key for m in top if m.score == pytest.approx(1.0)} == {"cat", "car"}
    assert len(index) == 3


def test_in_memory_delete_removes_the_key(index: InMemoryVectorIndex) -> None:
    index.delete("cat")
    index.delete("never-stored")

    assert [m.key for m in index.query([1.0, 0.0], limit=3)] == ["dog", "car"]


def test_query_with_other_dimensions_says_to_use_one_model(index: InMemoryVectorIndex) -> None:
    with pytest.raises(ValueError, match="same embedding model"):
        index.query([1.0, 0.0, 0.0], limit=1)


# --- provider selection ----------------------------------------------------------------------------


def test_without_a_key_the_local_providers_are_used() -> None:
    providers = build_providers(None, None, None, None)

    assert providers.kind == "local"
    assert isinstance(providers.vision, LocalVisionAnalyzer)
    assert isinstance(providers.embedder, OnnxMiniLMEmbedder)  # the embed extra is installed by `make setup`


def test_with_a_key_the_openai_providers_are_built_without_calling_out() -> None:
    providers = build_providers("sk-test", "http://127.0.0.1:9/v1", "gpt-4.1-mini", None)

    assert providers.kind == "openai"
    assert (providers.vision.model, providers.embedder.model) == ("gpt-4.1-mini", "text-embedding-3-small")


def test_ai_settings_read_only_offload_ai_variables() -> None:
    settings = AiSettings.from_env(
        {"OFFLOAD_AI_BASE_URL": "https://openrouter.ai/api/v1", "OFFLOAD_AI_TIMEOUT_S": "30", "OPENAI_API_KEY": "x"}
    )

    assert (settings.api_key, settings.base_url, settings.timeout_s) == (None, "https://openrouter.ai/api/v1", 30.0)


def test_local_analyzer_reports_the_original_size_of_a_large_jpeg():
    import io

    from PIL import Image

    from offload.ai.local_adapter import LocalVisionAnalyzer

    buf = io.BytesIO()
    Image.new("RGB", (2400, 1600), (200, 80, 40)).save(buf, "JPEG")

    meta = LocalVisionAnalyzer().describe(buf.getvalue(), content_type="image/jpeg")

    assert (meta.width, meta.height) == (2400, 1600) and meta.description.startswith("A 2400x1600")
