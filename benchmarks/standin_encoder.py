"""A stand-in for the packaged model where only the index engine is measured (growth, memory).

It has the real model's name, dimension, token limit and backend, so that an index built with it
is updated by the real `groundqa index`; its vectors are rows of a fixed table of random unit vectors,
picked by a hash of the text (deterministic, no model run). Encoding real text at the scales these benchmarks need would
take hours on two cores, and encoding cost follows the text encoded, not the index: what the
benchmarks compare is everything else.
"""

from __future__ import annotations

import re
import zlib
from typing import Sequence

import numpy as np

from embeddings import model_name
from embeddings.windows import WINDOW_TOKENS

_WORD = re.compile(r"\w+|[^\w\s]")


class StandinEncoder:
    """Deterministic vectors shaped like all-MiniLM-L6-v2's, one word or sign counted as a token."""

    name = model_name(None)
    dimension = 384
    chunk_token_limit = 254
    backend = "onnx"

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def __init__(self) -> None:
        table = np.random.default_rng(0).standard_normal((4096, self.dimension))
        self._table = (table / np.linalg.norm(table, axis=1, keepdims=True)).astype(np.float32)

    def _rows(self, text: str, n: int = 1) -> np.ndarray:
        first = zlib.crc32(text.encode("utf-8", "replace"))
        return self._table[(first + np.arange(n)) % len(self._table)]

    def _vector(self, text: str) -> np.ndarray:
        return self._rows(text)[0]

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        hashes = np.array([zlib.crc32(t.encode("utf-8", "replace")) for t in texts], dtype=np.int64)
        return self._table[hashes % len(self._table)]

    def _windows(self, text: str) -> np.ndarray:
        """As many windows as `embeddings.window_vectors` gives a text of this many tokens."""
        tokens = self.count_tokens(text)
        n = 0 if tokens <= WINDOW_TOKENS else -(-(tokens - WINDOW_TOKENS) // (WINDOW_TOKENS // 2)) + 1
        return self._rows(text + "#", n)

    def encode_windows(self, texts: Sequence[str], *, show_progress: bool = False):
        return self.encode(texts), [self._windows(t) for t in texts]

    def encode_spans(self, texts: Sequence[str], spans, *, show_progress: bool = False, batch_size=None):
        pooled = [self.encode([t[a:b] for a, b in s]) for t, s in zip(texts, spans)]
        windows = [[self._windows(t[a:b]) for a, b in s] for t, s in zip(texts, spans)]
        return self.encode(texts), pooled, windows

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)
