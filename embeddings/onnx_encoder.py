"""The default CPU backend of the sentence encoder: the model's transformer exported to ONNX, int8-quantized.

`OnnxEncoder` has the interface of `embeddings.encoder.Encoder` and its model `name`; an index's
manifest records which backend built it, and its questions are encoded on the same one (a
torch-built index on the float32 export, which gives torch's vectors). On first use the HF
transformer inside the sentence-transformers model is exported (`embeddings.onnx_export`), its
weights quantized per channel to int8, and the file cached under
`<cache>/onnx/<model fingerprint>/model-int8.onnx` (`<cache>` is `cache_dir`, `$GROUNDQA_CACHE` or
~/.cache/groundqa). Later runs load the cached file and need only `onnxruntime` and `tokenizers`:
neither torch nor `onnx` is imported then.

Inference mirrors sentence-transformers: the model's fast tokenizer truncating to `max_tokens`, mean
pooling over the attention mask, L2 normalization. Texts are sorted by length into batches so that each
batch pads little, and the vectors come back in the order of the texts.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from embeddings.encoder import model_name, resolve_model_path
from embeddings.onnx_export import INPUTS as _INPUTS, export as _export, one_line as _one_line
from embeddings.errors import ModelNotFoundError
from embeddings.windows import window_vectors

# Bump when the export recipe changes, so that every cache is rebuilt.
_EXPORT_RECIPE = "groundqa-onnx-export-v1"
# Texts are tokenized and length-sorted this many batches at a time, which bounds memory on big corpora.
_WINDOW_BATCHES = 64


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where groundqa caches derived files: `cache_dir`, `$GROUNDQA_CACHE`, or ~/.cache/groundqa."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("GROUNDQA_CACHE") or Path.home() / ".cache" / "groundqa")


def _machine_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot read {path}: {_one_line(exc)}") from exc


class _Layout:
    """What OnnxEncoder needs to know of a sentence-transformers model folder, read from its JSON files."""

    def __init__(self, path: Path) -> None:
        modules = _read_json(path / "modules.json")
        if modules is None:   # a plain HF model: sentence-transformers adds mean pooling
            transformer_dir, pooling = path, {}
        else:
            kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
            if not kinds or kinds[0] != "Transformer" or any(k not in ("Pooling", "Normalize")
                                                             for k in kinds[1:]):
                raise ModelNotFoundError(
                    f"the ONNX backend supports Transformer + mean Pooling (+ Normalize) models only; "
                    f"{path} has {' + '.join(kinds) or 'no modules'}: use embeddings.Encoder for it")
            transformer_dir = path / modules[0].get("path", "")
            pooling = {}
            for module, kind in zip(modules, kinds):
                if kind == "Pooling":
                    pooling = _read_json(path / module.get("path", "") / "config.json") or {}
        modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
        if modes and modes != ["pooling_mode_mean_tokens"]:
            raise ModelNotFoundError(
                f"the ONNX backend does mean pooling only; {path} pools with {', '.join(modes)}: "
                f"use embeddings.Encoder for it")
        config = _read_json(transformer_dir / "config.json")
        if not isinstance(config, dict):
            raise ModelNotFoundError(f"no config.json in {transformer_dir}")
        st_config = _read_json(transformer_dir / "sentence_bert_config.json") or {}
        tok_config = _read_json(transformer_dir / "tokenizer_config.json") or {}
        max_tokens = st_config.get("max_seq_length")
        if not max_tokens:   # sentence-transformers' own fallback
            limits = [v for v in (config.get("max_position_embeddings"), tok_config.get("model_max_length"))
                      if isinstance(v, int) and v > 0]
            max_tokens = min(limits) if limits else 512
        self.transformer_dir = transformer_dir
        self.config = config
        self.max_tokens = int(max_tokens)
        self.do_lower_case = bool(st_config.get("do_lower_case", False))
        self.dimension = int(pooling.get("word_embedding_dimension") or config.get("hidden_size") or 0)
        self.weights = self._weights_files(transformer_dir)

    @staticmethod
    def _weights_files(folder: Path) -> list[Path]:
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (folder / name).is_file():
                return [folder / name]
        shards = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model-*.bin"))
        if not shards:
            raise ModelNotFoundError(f"no model weights (model.safetensors or pytorch_model.bin) in {folder}")
        return shards

    def fingerprint(self) -> str:
        """sha256 of the export recipe, the transformer's config and its weights: a changed model re-exports."""
        digest = hashlib.sha256(_EXPORT_RECIPE.encode())
        digest.update((self.transformer_dir / "config.json").read_bytes())
        for weights in self.weights:
            digest.update(b"\0" + weights.name.encode() + b"\0")
            with open(weights, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()


def _load_tokenizer(folder: Path):
    """The model's fast tokenizer, as a `tokenizers.Tokenizer` (tokenizer.json, else built by transformers)."""
    from tokenizers import Tokenizer

    if (folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(folder / "tokenizer.json"))
    try:
        from transformers import AutoTokenizer

        slow_or_fast = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load the tokenizer at {folder}: {_one_line(exc)}") from exc
    backend = getattr(slow_or_fast, "backend_tokenizer", None)
    if backend is None:
        raise ModelNotFoundError(f"the ONNX backend needs a fast tokenizer; {folder} has none: use embeddings.Encoder")
    return Tokenizer.from_str(backend.to_str())


class OnnxEncoder:
    """Turns texts into L2-normalized float32 vectors with an ONNX export of a sentence-transformers model.

    `threads` sets onnxruntime's intra-op threads for this encoder only (default: the machine's cores);
    unlike torch's, the setting is not process-wide.
    `quantize=False` keeps the float32 export (slower, identical to torch up to rounding).
    """

    def __init__(self, model: str | os.PathLike | None = None, *, threads: int | None = None,
                 batch_size: int = 32, cache_dir: str | os.PathLike | None = None,
                 quantize: bool = True) -> None:
        path = resolve_model_path(model)
        self.name = model_name(model)
        self.path = path
        self.batch_size = batch_size
        self.quantize = quantize
        self.threads = threads or _machine_cores()
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelNotFoundError(
                "the ONNX encoder needs onnxruntime: pip install onnxruntime") from exc
        layout = _Layout(path)
        self.max_tokens = layout.max_tokens
        self._lower = layout.do_lower_case
        self.onnx_path = (cache_root(cache_dir) / "onnx" / layout.fingerprint()
                          / ("model-int8.onnx" if quantize else "model-fp32.onnx"))

        self._counter = _load_tokenizer(layout.transformer_dir)
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = _load_tokenizer(layout.transformer_dir)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._pad_id = next((i for i in (self._tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>", "<PAD>"))
                             if i is not None), 0)

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle workers sleep instead of spinning: on a 2-core machine shared with other work, spinning
        # threads fight the busy ones. Measured here under load (interleaved A/B, int8, 2 threads):
        # query p50 7.0 ms spinning vs 4.0 ms not, 17.0 vs 22.4 passages/s; no difference at 1 thread.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = None
        if self.onnx_path.is_file():
            try:
                self._session = ort.InferenceSession(str(self.onnx_path), options,
                                                     providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - an unreadable cache file is rebuilt below
                self._session = None
        if self._session is None:
            _export(path, layout, self.onnx_path, quantize=quantize)
            self._session = ort.InferenceSession(str(self.onnx_path), options,
                                                 providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = set(self._inputs) - set(_INPUTS)
        if unknown:
            raise ModelNotFoundError(f"the ONNX model at {self.onnx_path} wants unknown inputs {sorted(unknown)}")
        self.dimension = int(layout.dimension or self.encode(["dimension"]).shape[1])

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without the special tokens the model adds."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """`count_tokens` of each text, in one batch call."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The character span in `text` of each of its word pieces (special tokens left out)."""
        return [tuple(span) for span in self._counter.encode(text, add_special_tokens=False).offsets]

    @property
    def chunk_token_limit(self) -> int:
        """The most word pieces a chunk may hold so the model reads all of it (room for [CLS]/[SEP])."""
        return self.max_tokens - 2

    def _hidden(self, encodings: list) -> tuple[np.ndarray, np.ndarray]:
        """Token vectors and attention mask of one batch of tokenized texts."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {name: arrays[name] for name in self._inputs})[0]
        return hidden.astype(np.float32, copy=False), mask

    def _batches(self, texts: Sequence[str], show_progress: bool, batch_size: int | None):
        """(rows of `texts`, token vectors, attention mask, encodings) per batch of similar-length texts."""
        from tqdm.auto import tqdm

        size = max(1, batch_size or self.batch_size)
        prepared = [str(t).strip() for t in texts]   # as sentence-transformers does
        if self._lower:
            prepared = [t.lower() for t in prepared]
        window = size * _WINDOW_BATCHES
        with tqdm(total=-(-len(prepared) // size), desc="Batches", unit="batch",
                  disable=not show_progress) as bar:
            for start in range(0, len(prepared), window):
                encodings = self._tokenizer.encode_batch(prepared[start:start + window])
                order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
                for first in range(0, len(order), size):
                    rows = order[first:first + size]
                    hidden, mask = self._hidden([encodings[i] for i in rows])
                    yield [start + i for i in rows], hidden, mask, [encodings[i] for i in rows]
                    bar.update(1)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False,
               batch_size: int | None = None) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), dimension), unit length."""
        if len(texts) == 0:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        out: np.ndarray | None = None
        for rows, hidden, mask, _ in self._batches(texts, show_progress, batch_size):
            vectors = _mean_pool(hidden, mask)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode_windows(self, texts: Sequence[str], *, show_progress: bool = False,
                       batch_size: int | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """The vectors `encode` gives, and each text's window vectors (`window_vectors`), from one pass."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        windows: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        for rows, hidden, mask, _ in self._batches(texts, show_progress, batch_size):
            vectors[rows] = _mean_pool(hidden, mask)
            for row, tokens, row_mask in zip(rows, hidden, mask):
                windows[row] = window_vectors(tokens[1:int(row_mask.sum()) - 1])
        return vectors, windows

    def encode_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], *,
                     show_progress: bool = False, batch_size: int | None = None
                     ) -> tuple[np.ndarray, list[np.ndarray], list[list[np.ndarray]]]:
        """One forward pass over `texts` gives their vectors and, for each character span of
        `spans[i]` in text i, a vector pooled over the span's own tokens (read in the text's
        context) and its window vectors (`window_vectors`): every token is encoded once.

        Returns (text vectors, per text an array of span vectors, per text a list of window arrays).
        A span holding no token gets a zero vector.
        """
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        span_windows: list[list[np.ndarray]] = [[] for _ in texts]
        shifts = [len(str(t)) - len(str(t).lstrip()) for t in texts]  # `_batches` strips the texts
        for rows, hidden, mask, encodings in self._batches(texts, show_progress, batch_size):
            vectors[rows] = _mean_pool(hidden, mask)
            for row, tokens, encoding in zip(rows, hidden, encodings):
                offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
                real = ~np.asarray(encoding.special_tokens_mask, dtype=bool)
                pooled = np.zeros((len(spans[row]), self.dimension), dtype=np.float32)
                for j, (start, end) in enumerate(spans[row]):
                    start, end = start - shifts[row], end - shifts[row]
                    inside = np.flatnonzero(real & (offsets[:, 0] < end) & (offsets[:, 1] > start))
                    if len(inside):
                        own = tokens[inside[0]:inside[-1] + 1]
                        mean = own.mean(axis=0)
                        pooled[j] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                        span_windows[row].append(window_vectors(own))
                    else:
                        span_windows[row].append(np.zeros((0, self.dimension), dtype=np.float32))
                span_vectors[row] = pooled
        return vectors, span_vectors, span_windows

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dimension,)."""
        return self.encode([text])[0]


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit-length mean of each row's token vectors over its attention mask."""
    weights = mask.astype(np.float32)
    pooled = np.einsum("bsd,bs->bd", hidden, weights) / np.clip(weights.sum(axis=1, keepdims=True), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
