"""The offline ONNX MiniLM embedder: semantic ranking, shape, batching, limits and the lexical fallback.

Unit tests block sockets (conftest), so each test here also proves the model runs without a network.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from offload.ai.factory import local_embedder
from offload.ai.local_adapter import HashingEmbedder
from offload.ai.onnx_embedder import (
    DIMENSIONS,
    MODEL,
    EmbedderUnavailable,
    OnnxMiniLMEmbedder,
    default_tokenizer_path,
)
from offload.ai.ports import Embedder
from offload.ai.vector_index import InMemoryVectorIndex

# Image descriptions, and queries that share no content word with their relevant description. The soup
# shares "a red" with the car query, so a lexical embedder is drawn to it.
DOCS = {
    "car": "crimson convertible on a road",
    "soup": "a red bowl of soup",
    "puppy": "a puppy playing in the grass",
    "mountains": "snow-capped mountains at sunrise",
    "laptop": "a laptop on an office desk",
    "sailboat": "a sailboat on the ocean",
    "market": "a crowded street market at night",
}
QUERIES = {
    "a red sports car": "car",
    "a dog running on a lawn": "puppy",
    "alpine peaks in the early morning": "mountains",
    "a computer at work": "laptop",
    "a boat at sea": "sailboat",
    "something hot to eat": "soup",
    "people shopping after dark": "market",
}


@pytest.fixture(scope="module")
def onnx() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder()


def _top_hits(embedder: Embedder) -> dict[str, str]:
    """For each query, the key of the best-ranked description."""
    index = InMemoryVectorIndex()
    for key, vector in zip(DOCS, embedder.embed(list(DOCS.values())), strict=True):
        index.upsert(key, vector, {"text": DOCS[key]})
    vectors = embedder.embed(list(QUERIES))
    return {query: index.query(vector, limit=1)[0].key for query, vector in zip(QUERIES, vectors, strict=True)}


def test_each_query_finds_its_description_first(onnx: OnnxMiniLMEmbedder) -> None:
    assert _top_hits(onnx) == QUERIES


def test_the_lexical_embedder_misses_them_so_the_ranking_is_semantic() -> None:
    hits = _top_hits(HashingEmbedder())

    wrong = {query: hit for query, hit in hits.items() if hit != QUERIES[query]}
    assert wrong["a red sports car"] == "soup"  # word overlap, not meaning
    assert len(wrong) >= 3


def test_a_red_sports_car_ranks_the_convertible_above_the_soup(onnx: OnnxMiniLMEmbedder) -> None:
    query, car, soup = onnx.embed(["a red sports car", "crimson convertible on a road", "a bowl of soup"])

    assert _dot(query, car) > _dot(query, soup) + 0.2


def test_vectors_have_384_unit_length_dimensions(onnx: OnnxMiniLMEmbedder) -> None:
    vectors = onnx.embed(["a cat", "a much longer description of a cat asleep on a windowsill in the sun"])

    assert (onnx.model, onnx.dimensions) == (MODEL, DIMENSIONS) == ("all-MiniLM-L6-v2-onnx-int8", 384)
    assert [len(v) for v in vectors] == [384, 384]
    assert [math.sqrt(_dot(v, v)) for v in vectors] == pytest.approx([1.0, 1.0], abs=1e-5)


def test_batches_give_the_vectors_of_one_by_one(onnx: OnnxMiniLMEmbedder) -> None:
    texts = [*DOCS.values(), "x"]  # lengths differ, so the batches are padded
    small_batches = OnnxMiniLMEmbedder(batch_size=3)

    one_by_one = [onnx.embed([text])[0] for text in texts]

    for batched in (onnx.embed(texts), small_batches.embed(texts)):
        assert len(batched) == len(texts)
        for got, want in zip(batched, one_by_one, strict=True):
            assert got == pytest.approx(want, abs=1e-4)


def test_empty_inputs(onnx: OnnxMiniLMEmbedder) -> None:
    assert onnx.embed([]) == []
    (vector,) = onnx.embed([""])  # only [CLS] [SEP]: still a unit vector, no NaN
    assert len(vector) == 384
    assert all(math.isfinite(x) for x in vector)
    assert math.sqrt(_dot(vector, vector)) == pytest.approx(1.0, abs=1e-5)


def test_long_inputs_are_truncated_at_the_models_length(onnx: OnnxMiniLMEmbedder) -> None:
    head = "a crimson convertible parked on a coastal road at sunset. "
    long_text = head + "soup " * 5000  # far past 512 word pieces, which the model cannot take

    short_limit = OnnxMiniLMEmbedder(max_tokens=16)
    (truncated,) = short_limit.embed([long_text])
    (head_only,) = short_limit.embed([head + "soup " * 10])
    (full,) = onnx.embed([long_text])

    assert len(full) == 384
    assert truncated == pytest.approx(head_only, abs=1e-5)  # nothing past 16 pieces counts


def test_bad_limits_are_refused_with_the_range() -> None:
    with pytest.raises(ValueError, match="3 to 512"):
        OnnxMiniLMEmbedder(max_tokens=1000)
    with pytest.raises(ValueError, match="batch_size=0"):
        OnnxMiniLMEmbedder(batch_size=0)


def test_the_factory_picks_the_onnx_embedder_when_the_model_loads() -> None:
    assert isinstance(local_embedder(), OnnxMiniLMEmbedder)


def test_a_missing_model_falls_back_to_hashing_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "no-model.onnx"

    with caplog.at_level(logging.WARNING, logger="offload.ai.factory"):
        embedder = local_embedder(OnnxMiniLMEmbedder(model_path=missing))

    assert isinstance(embedder, HashingEmbedder)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert str(missing) in record.getMessage()
    assert "pip install 'offload[embed]'" in record.getMessage()
    assert "lexical" in record.getMessage()


def test_embedding_with_a_missing_model_raises_the_reason(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match=r"ONNX model file .* does not exist"):
        OnnxMiniLMEmbedder(model_path=tmp_path / "no-model.onnx").embed(["a cat"])


def test_an_unreadable_model_raises_the_reason(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not an onnx graph")

    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        OnnxMiniLMEmbedder(model_path=broken, tokenizer_path=default_tokenizer_path()).embed(["a cat"])


def test_an_index_of_hashing_vectors_refuses_an_onnx_query(onnx: OnnxMiniLMEmbedder) -> None:
    index = InMemoryVectorIndex()
    index.upsert("car", HashingEmbedder().embed(["crimson convertible"])[0], {})

    with pytest.raises(ValueError, match="256 dimensions, the query has 384"):
        index.query(onnx.embed(["a red sports car"])[0])


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
