"""Exporting a sentence-transformers model's transformer to ONNX (float32, or int8-quantized),
once, atomically, checked against torch on a padded batch; `embeddings.onnx_encoder` caches it."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from embeddings.encoder import quiet_loading
from embeddings.errors import ModelNotFoundError

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_export():
    """Silence the tracer's and the quantizer's advice, which says nothing actionable here."""
    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    drop = _Drop()
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        with quiet_loading():  # and warnings of every kind
            yield
    finally:
        root.removeFilter(drop)


def export(model_path: Path, layout, target: Path, *, quantize: bool) -> None:
    """Export the transformer of the model at `model_path` to ONNX at `target`, atomically."""
    for module, package in (("onnx", "onnx"), ("onnxruntime", "onnxruntime")):
        try:
            __import__(module)
        except ImportError as exc:
            raise ModelNotFoundError(
                f"cannot export the model to ONNX: package {package} is not installed (pip install {package})"
            ) from exc
    import inspect

    import torch
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            st_model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load the model at {model_path}: {one_line(exc)}") from exc
    first = st_model[0]
    hf_model = getattr(first, "auto_model", None) or getattr(first, "model", None)
    if not isinstance(hf_model, torch.nn.Module):
        raise ModelNotFoundError(f"cannot find the transformer inside the model at {model_path}")
    hf_model.eval()
    accepted = inspect.signature(hf_model.forward).parameters
    inputs = [name for name in INPUTS if name in accepted]

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(inputs, args))).last_hidden_state

    # Two texts of unequal length, so that the traced graph keeps the attention mask.
    texts = ["An example sentence to trace the model with, long enough to need padding elsewhere.", "Short."]
    sample = st_model.tokenizer(texts, padding=True, truncation=True, max_length=layout.max_tokens,
                                return_tensors="pt")
    args = tuple(sample[name] if name in sample else torch.zeros_like(sample["input_ids"])
                 for name in inputs)
    with torch.no_grad():
        expected = _LastHiddenState(hf_model)(*args).numpy()

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        fp32 = work / "model-fp32.onnx"
        axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, "last_hidden_state")}
        with _quiet_export(), torch.no_grad():
            torch.onnx.export(_LastHiddenState(hf_model), args, str(fp32), input_names=inputs,
                              output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=OPSET, do_constant_folding=True, dynamo=False)
        _check_export(fp32, {n: a.numpy() for n, a in zip(inputs, args)}, expected)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = work / "model-int8.onnx"
            with _quiet_export():
                quantize_dynamic(str(fp32), str(final), per_channel=True, weight_type=QuantType.QInt8)
        else:
            final = fp32
        os.replace(final, target)   # same folder, so atomic: a reader sees no file or a whole one
    except ModelNotFoundError:
        raise
    except ImportError as exc:
        missing = getattr(exc, "name", None) or one_line(exc)
        raise ModelNotFoundError(
            f"cannot export the model to ONNX: package {missing} is missing (pip install {missing})") from exc
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds; one clear line for all
        raise ModelNotFoundError(
            f"cannot export the model at {model_path} to ONNX: {type(exc).__name__}: {one_line(exc)}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_export(path: Path, feed: dict[str, np.ndarray], expected: np.ndarray) -> None:
    """The exported graph must give what torch gave on a padded batch, or the export is wrong."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: value.astype(np.int64) for name, value in feed.items()})[0]
    mask = feed["attention_mask"].astype(bool)
    error = float(np.max(np.abs(got[mask] - expected[mask])))
    if not error < 1e-3:
        raise ModelNotFoundError(f"the ONNX export of the model differs from torch (max error {error:.3g})")


