"""The AI provider layer: vision, embeddings and a vector index behind small ports.

Import the adapters from their modules (`offload.ai.openai_adapter`, `offload.ai.local_adapter`,
`offload.ai.vector_index`) or let `offload.ai.factory.build_providers` choose; this package
re-exports only the ports, so importing it does not load the OpenAI SDK or Pillow.
"""

from __future__ import annotations

from offload.ai.ports import Embedder, ImageMetadata, VectorIndex, VectorMatch, VisionAnalyzer

__all__ = ["Embedder", "ImageMetadata", "VectorIndex", "VectorMatch", "VisionAnalyzer"]
