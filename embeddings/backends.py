"""Choosing the encoder's backend: ONNX (the default: no torch at query time) or torch."""

from __future__ import annotations

import os

from embeddings.errors import ModelNotFoundError

ENCODER_BACKENDS = ("onnx", "torch")
DEFAULT_BACKEND = "onnx"


def load_encoder(model: str | os.PathLike | None = None, *, backend: str = DEFAULT_BACKEND,
                 cache_dir: str | os.PathLike | None = None):
    """The encoder for `model` on `backend`.

    "onnx" runs the model's float32 ONNX export (made once from the packaged weights and cached,
    see `embeddings.onnx_encoder`): the same vectors as torch to rounding, without importing torch,
    so a command starts in a fraction of a second. "torch" runs sentence-transformers itself.
    """
    if backend == "onnx":
        from embeddings.onnx_encoder import OnnxEncoder

        return OnnxEncoder(model, quantize=False, cache_dir=cache_dir)
    if backend == "torch":
        from embeddings.encoder import Encoder

        return Encoder(model)
    raise ModelNotFoundError(f"unknown encoder backend {backend!r}: choose one of {', '.join(ENCODER_BACKENDS)}")
