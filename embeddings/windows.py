"""Window vectors: mean-pooled stretches of a long text's token vectors, from the same forward pass."""

from __future__ import annotations

from typing import Sequence

import numpy as np

WINDOW_TOKENS = 24


def window_vectors(tokens: np.ndarray, size: int = WINDOW_TOKENS) -> np.ndarray:
    """Unit vectors of half-overlapping `size`-token windows over `tokens` (one row per word piece,
    special tokens removed); no rows when the text fits in one window.

    A long sentence's vector averages all its clauses, so a question about one clause matches it
    weakly; a window keeps that clause, at no extra encoding cost.
    """
    n, dimension = tokens.shape
    if n <= size:
        return np.zeros((0, dimension), dtype=np.float32)
    step = size // 2
    starts = np.arange(0, n - size + step, step)  # the last window reaches the end
    ends = np.minimum(starts + size, n)
    ends[-1] = n
    totals = np.vstack([np.zeros((1, dimension)), np.cumsum(tokens, axis=0, dtype=np.float64)])
    sums = totals[ends] - totals[starts]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.clip(norms, 1e-12, None)).astype(np.float32)


def save_windows(path, windows: Sequence[np.ndarray], dimension: int) -> None:
    """Every text's window vectors in one file: float16 rows and each text's first row (offsets)."""
    sizes = np.array([len(w) for w in windows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rows = np.vstack([np.zeros((0, dimension), dtype=np.float32), *windows]).astype(np.float16)
    with open(path, "wb") as f:  # a file object keeps numpy from renaming the path
        np.savez(f, vectors=rows, offsets=offsets)


def load_windows(path) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, offsets) as `save_windows` wrote them: text i's windows are vectors[offsets[i]:offsets[i+1]]."""
    with np.load(path, allow_pickle=False) as data:
        return data["vectors"], data["offsets"]
