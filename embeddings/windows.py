"""Window vectors: mean-pooled stretches of a long text's token vectors, from the same forward pass."""

from __future__ import annotations

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
