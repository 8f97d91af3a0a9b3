"""Retrieval and answer metrics as pure functions, with the trec_eval / BEIR definitions.

`ranking` is a list of ids, best first; `qrels` maps relevant ids to graded relevance (> 0).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """trec_eval `ndcg_cut`: linear gains, log2 discount, ideal ranking from the qrels."""
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant ids found in the top `k`."""
    relevant = {d for d, g in qrels.items() if g > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant id within the top `k` (0 when none)."""
    for i, d in enumerate(ranking[:k]):
        if qrels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def map_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """trec_eval `map_cut`: mean of precision at each relevant hit in the top `k`, over all relevant."""
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranking[:k]):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def first_hit_rank(candidates: Sequence[str], answers: Sequence[str]) -> int | None:
    """1-based rank of the first text that contains one of `answers` (case-insensitive), or None."""
    wanted = [a.lower() for a in answers if a.strip()]
    for i, text in enumerate(candidates):
        low = text.lower()
        if any(a in low for a in wanted):
            return i + 1
    return None


def hit_at_k(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def recall_curve(first_ranks: Sequence[int | None], max_k: int = 100) -> np.ndarray:
    """For k = 1..max_k, the share of queries whose first hit is at rank <= k."""
    ranks = np.array([r if r is not None else max_k + 1 for r in first_ranks], dtype=np.int64)
    if len(ranks) == 0:
        return np.zeros(max_k)
    return np.array([(ranks <= k).mean() for k in range(1, max_k + 1)])


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of per-query latencies, in milliseconds."""
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    ms = np.asarray(seconds) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "mean": round(float(ms.mean()), 2)}
