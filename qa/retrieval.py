"""Retrieval maths as small pure functions: top-k, normalization, and the fusion of dense and lexical scores."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, TypeVar

import numpy as np

from embeddings import PRIOR_CHUNKS
from qa.side_thread import run_now

T = TypeVar("T")
MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("score", "rrf")


@dataclass(frozen=True)
class RetrievalSettings:
    """How dense and lexical results are combined; the defaults were tuned on SciFact train queries.

    `term_prior` is how many chunks' worth of weight general-English word frequencies get in a query
    term's idf (embeddings.term_prior); 0 uses the corpus's own counts alone.
    """

    fusion: str = "score"
    dense_weight: float = 0.5
    rrf_k: int = 60
    candidates: int = 100
    term_prior: float = PRIOR_CHUNKS

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}: choose one of {', '.join(FUSIONS)}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight {self.dense_weight} must be between 0 and 1")
        if self.term_prior < 0:
            raise ValueError(f"term_prior {self.term_prior} must be 0 or more chunks")

    def to_dict(self) -> dict:
        return asdict(self)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest scores, best first (ties broken by lower index)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):  # every score tied with the k-th stays a candidate, so ties go by index
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        part = np.flatnonzero(scores >= kth)
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))][:k]


def min_max(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector maps to zeros (it says nothing about order)."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.float32)
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(scores, dtype=np.float32)
    return ((scores - lo) / (hi - lo)).astype(np.float32)


def score_fusion(dense: np.ndarray, lexical: np.ndarray, *, dense_weight: float) -> np.ndarray:
    """Convex combination of min-max normalized dense and lexical scores of the same candidates."""
    return dense_weight * min_max(dense) + (1.0 - dense_weight) * min_max(lexical)


def rrf_fusion(dense: np.ndarray, lexical: np.ndarray, *, k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over both rankings of the same candidates."""
    return (1.0 / (k + ranks(dense)) + 1.0 / (k + ranks(lexical))).astype(np.float32)


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every score, highest first (ties by position)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def fuse(dense: np.ndarray, lexical: np.ndarray, settings: RetrievalSettings) -> np.ndarray:
    """Fused scores of candidates given their dense and lexical scores, by `settings.fusion`."""
    if settings.fusion == "rrf":
        return rrf_fusion(dense, lexical, k=settings.rrf_k)
    return score_fusion(dense, lexical, dense_weight=settings.dense_weight)


def best_per_group(groups: np.ndarray, scores: np.ndarray) -> dict[int, float]:
    """For each group id (e.g. a document), the best score among its members (e.g. its chunks)."""
    best: dict[int, float] = {}
    for g, s in zip(groups.tolist(), scores.tolist()):
        if s > best.get(g, -np.inf):
            best[g] = s
    return best


def union_dense(union: np.ndarray, known: np.ndarray, known_scores: np.ndarray, matrix, query: np.ndarray
                ) -> np.ndarray:
    """Dense scores of the rows `union` (sorted): those of `known` rows as given, the others from `matrix`.

    A search that read its rows' vectors from disk to score them (`reads_rows`) hands its scores
    on, so that fusion reads only the lexical candidates' vectors, not all of them again.
    """
    if not len(known):
        return np.asarray(matrix[union] @ query, dtype=np.float32)
    order = np.argsort(known, kind="stable")
    place = np.minimum(np.searchsorted(known[order], union), len(known) - 1)
    have = known[order][place] == union
    out = np.empty(len(union), dtype=np.float32)
    out[have] = np.asarray(known_scores, dtype=np.float32)[order][place[have]]
    if not have.all():
        out[~have] = np.asarray(matrix[union[~have]] @ query, dtype=np.float32)
    return out


def rank_chunks(question: str, n: int, mode: str, settings: RetrievalSettings, *, vectors, matrix: np.ndarray,
                lexical, prior, allowed: np.ndarray | None, encode_query,
                start: Callable[[Callable[[], T]], Callable[[], T]] | None = None):
    """Chunk rows and scores, best first, and the query vector (None in lexical mode).

    `n` candidates from each side (FAISS `vectors`, BM25 `lexical` with the term `prior`), fused
    by `settings` in hybrid mode; `allowed`, a mask of chunks (None: all); `encode_query()` the
    question's vector, asked for only when dense scores are needed. In hybrid mode the dense
    side runs through `start` (e.g. `SideThread.start`) while BM25 scores, if given.
    """
    def dense() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        query = encode_query()
        if allowed is None:
            return (query, *vectors.search(query, n))
        all_dense = matrix @ query
        all_dense[~allowed] = -np.inf
        ids = top_k(all_dense, min(n, int(allowed.sum())))
        return query, all_dense[ids], ids

    if mode == "dense":
        query, dense_scores, dense_ids = dense()
        return dense_ids, dense_scores, query
    dense_done = (start or run_now)(dense) if mode != "lexical" else None
    lex = lexical.scores(question, prior, start=start)
    if allowed is not None:
        lex = np.where(allowed, lex, -1.0).astype(np.float32)
    matched = np.flatnonzero(lex > 0)  # only chunks holding a query term are lexical candidates
    lex_ids = matched[top_k(lex[matched], n)]
    if mode == "lexical":
        return lex_ids, lex[lex_ids], None
    query, dense_scores, dense_ids = dense_done()
    union = np.union1d(dense_ids, lex_ids)
    known = dense_ids if allowed is None and getattr(vectors, "reads_rows", False) else dense_ids[:0]
    fused = fuse(union_dense(union, known, dense_scores, matrix, query), lex[union], settings)
    order = top_k(fused, len(union))
    return union[order], fused[order], query
