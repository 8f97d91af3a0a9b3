"""Choosing the encoder's backend: int8 ONNX (the default), or torch; and which one reads an index's queries."""

from __future__ import annotations

import os

from pathlib import Path

from embeddings.errors import IndexMismatchError, ModelNotFoundError

ENCODER_BACKENDS = ("onnx", "torch")
DEFAULT_BACKEND = "onnx"
# How an index built by each backend encodes its queries: torch's vectors are the float32 ONNX
# export's to rounding, and that export answers without importing torch.
QUERY_BACKENDS = {"onnx": "onnx", "torch": "onnx-fp32", "onnx-fp32": "onnx-fp32"}


def load_encoder(model: str | os.PathLike | None = None, *, backend: str = DEFAULT_BACKEND,
                 cache_dir: str | os.PathLike | None = None):
    """The encoder for `model` on `backend`.

    "onnx" runs the model's int8-quantized ONNX export, "onnx-fp32" its float32 export (both made
    once from the packaged weights and cached, see `embeddings.onnx_encoder`; neither imports
    torch), "torch" runs sentence-transformers itself.
    """
    if backend in ("onnx", "onnx-fp32"):
        from embeddings.onnx_encoder import OnnxEncoder

        return OnnxEncoder(model, quantize=backend == "onnx", cache_dir=cache_dir)
    if backend == "torch":
        from embeddings.encoder import Encoder

        return Encoder(model)
    raise ModelNotFoundError(f"unknown encoder backend {backend!r}: choose one of {', '.join(ENCODER_BACKENDS)}")


def backend_of(encoder) -> str:
    """The backend name an index records for `encoder` (its class and precision)."""
    if type(encoder).__name__ == "OnnxEncoder":
        return "onnx" if encoder.quantize else "onnx-fp32"
    if type(encoder).__name__ == "Encoder":
        return "torch"
    return getattr(encoder, "backend", type(encoder).__name__)


def check_encoder(index_dir: Path, manifest: dict, encoder) -> None:
    """Refuse an encoder whose vectors are not the index's."""
    built_with = manifest["model"]["name"]
    if encoder.name != built_with:
        raise IndexMismatchError(
            f"index at {index_dir} was built with model {built_with!r} but the encoder is "
            f"{encoder.name!r}: rebuild the index with that model")
    if encoder.dimension != manifest["model"]["dimension"]:
        raise IndexMismatchError(
            f"index at {index_dir} holds {manifest['model']['dimension']}-dimensional vectors but "
            f"the model gives {encoder.dimension}: rebuild it with `groundqa index`")
