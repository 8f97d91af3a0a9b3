"""Run a data set's questions against a knowledge base and compute its metrics, per mode."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from embeddings import FORMAT_VERSION, model_name
from embeddings.backends import DEFAULT_BACKEND, backend_of
from qa.errors import EvaluationError, GroundQAError
from qa.evaluation.datasets import Dataset, Query
from qa.evaluation.metrics import (
    first_hit_rank, hit_at_k, latency_summary, map_at_k, mrr_at_k, ndcg_at_k, recall_at_k, recall_curve,
)
from qa.knowledge_base import KnowledgeBase
from qa.retrieval import MODES, RetrievalSettings

CURVE_DEPTH = 100
ASK_K = 8  # passages whose sentences `ask` considers during evaluation (kb.ask's default)


@dataclass
class ModeRun:
    """One mode's results: averaged metrics, latencies, the recall@k curve and per-query rows."""

    mode: str
    metrics: dict[str, float]
    latencies: list[float]
    curve: np.ndarray
    per_query: list[dict] = field(default_factory=list)
    ask_latencies: list[float] = field(default_factory=list)

    @property
    def latency_ms(self) -> dict[str, float]:
        return latency_summary(self.latencies)

    @property
    def ask_latency_ms(self) -> dict[str, float] | None:
        return latency_summary(self.ask_latencies) if self.ask_latencies else None


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where evaluation indexes are cached: `cache_dir`, `$GROUNDQA_CACHE`, or ~/.cache/groundqa."""
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ.get("GROUNDQA_CACHE") or Path.home() / ".cache" / "groundqa")


def cached_knowledge_base(dataset: Dataset, *, cache_dir=None, model=None, chunk_size: int = 200,
                          chunk_overlap: int = 1, encoder=None, backend: str = DEFAULT_BACKEND,
                          show_progress: bool = True) -> KnowledgeBase:
    """The index of the data set's corpus, built once and reused, keyed by corpus hash and settings."""
    name = encoder.name if encoder is not None else model_name(model)
    built_by = backend_of(encoder) if encoder is not None else backend
    key = {"model": name, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "format": FORMAT_VERSION}
    if built_by != "torch":  # (torch-built caches keep the key they had before backends were recorded)
        key["backend"] = built_by
    digest = hashlib.sha256()
    digest.update(json.dumps(key).encode())
    for d in dataset.documents:
        digest.update(f"\x00{d.doc_id}\x00{d.title}\x00{d.sha256}".encode())
    slug = "".join(c if c.isalnum() else "-" for c in dataset.name.split(" ")[0].lower())[:40]
    folder = cache_root(cache_dir) / "eval" / f"{slug}-{digest.hexdigest()[:16]}"
    if (folder / "manifest.json").is_file():
        try:
            return KnowledgeBase.open(folder, model=None if encoder else model, encoder=encoder)
        except GroundQAError:
            pass  # a stale cache entry: rebuild it below
    return KnowledgeBase.from_documents(dataset.documents, index_dir=folder, model=model, encoder=encoder,
                                        backend=backend,
                                        chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                        show_progress=show_progress)


def evaluate(kb: KnowledgeBase, dataset: Dataset, *, mode: str = "hybrid",
             retrieval: RetrievalSettings | None = None, answers: bool = True, ask_k: int = ASK_K,
             threshold: float | None = None, reader: bool = True, show_progress: bool = True) -> ModeRun:
    """Ask every question of `dataset` in `mode` and average the metrics of its kind.

    With `answers` (question sets and SQuAD), each question also goes through `kb.ask`: quote
    metrics, and abstention on answerable questions and on unanswerable ones. A SQuAD question is
    also asked without its own article's paragraphs; in a SQuAD 2.0 file that abstention is
    `abstain_rate_article_removed`, and `abstain_rate_unanswerable` is its `is_impossible`
    questions', asked with every paragraph indexed. `reader=False` answers with the bi-encoder scorer alone.
    """
    if mode not in MODES:
        raise EvaluationError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)} or all")
    if not dataset.queries:
        raise EvaluationError(f"{dataset.name} has no questions to evaluate")
    score = _score_beir if dataset.kind == "beir" else _score_answers
    removed = "abstain_rate_article_removed" if dataset.squad2 else "abstain_rate_unanswerable"
    rows, latencies, curves, ask_latencies = [], [], [], []
    for query in tqdm(dataset.queries, desc=f"Evaluating ({mode})", unit="q", disable=not show_progress):
        row, seconds, curve = score(kb, query, mode, retrieval)
        if answers and dataset.kind != "beir":
            ask_latencies.extend(_score_quotes(kb, query, row, mode, retrieval, ask_k, threshold, removed,
                                                reader))
        rows.append(row)
        latencies.append(seconds)
        if curve is not None:
            curves.append(curve)
    metric_names = list(dict.fromkeys(name for r in rows for name in r["metrics"]))
    metrics = {}
    for name in metric_names:
        values = [r["metrics"][name] for r in rows if r["metrics"].get(name) is not None]
        if values:
            metrics[name] = round(float(np.mean(values)), 4)
    curve = np.mean(curves, axis=0) if curves else np.zeros(CURVE_DEPTH)
    return ModeRun(mode, metrics, latencies, curve, rows, ask_latencies)


def _score_quotes(kb: KnowledgeBase, query: Query, row: dict, mode: str, retrieval, k: int,
                  threshold: float | None, removed_metric: str = "abstain_rate_unanswerable",
                  reader: bool = True) -> list[float]:
    """Add quote metrics to `row` from `kb.ask`; return the ask latencies measured.

    An answerable SQuAD question is asked again without its own article, scored as `removed_metric`.
    """
    metrics, seconds = row["metrics"], []

    def ask(exclude):
        start = time.perf_counter()
        answer = kb.ask(query.text, k=k, mode=mode, retrieval=retrieval, threshold=threshold,
                        exclude=exclude or None, reader=reader)
        seconds.append(time.perf_counter() - start)
        return answer

    if not query.unanswerable:
        answer = ask(None)
        shown = [] if answer.abstained else [q.text for q in answer.quotes]
        rank = first_hit_rank(shown, query.answers)
        metrics["quote_answer_recall@1"] = hit_at_k(rank, 1)
        metrics["quote_answer_recall@3"] = hit_at_k(rank, 3)
        metrics["abstain_rate_answerable"] = float(answer.abstained)
        row["answer"] = {"abstained": answer.abstained, "confidence": answer.confidence,
                         "quotes": [{"doc_id": q.doc_id, "start": q.start, "end": q.end, "text": q.text}
                                    for q in answer.quotes]}
    if query.impossible or (query.unanswerable and not query.own_documents):
        answer, metric = ask(None), "abstain_rate_unanswerable"
    elif query.own_documents:
        answer, metric = ask(query.own_documents), removed_metric
    else:
        return seconds
    metrics[metric] = float(answer.abstained)
    key = "unanswerable_answer" if metric == "abstain_rate_unanswerable" else "article_removed_answer"
    row[key] = {"abstained": answer.abstained, "confidence": answer.confidence}
    return seconds


def _score_beir(kb: KnowledgeBase, query: Query, mode: str, retrieval):
    start = time.perf_counter()
    ranked = kb.search_documents(query.text, k=CURVE_DEPTH, mode=mode, retrieval=retrieval)
    seconds = time.perf_counter() - start
    ranking = [doc_id for doc_id, _ in ranked]
    rel = query.qrels
    metrics = {"ndcg@10": ndcg_at_k(ranking, rel, 10), "recall@10": recall_at_k(ranking, rel, 10),
               "recall@100": recall_at_k(ranking, rel, 100), "mrr@10": mrr_at_k(ranking, rel, 10),
               "map@100": map_at_k(ranking, rel, 100)}
    curve = np.array([recall_at_k(ranking, rel, k) for k in range(1, CURVE_DEPTH + 1)])
    row = {"qid": query.qid, "question": query.text, "metrics": metrics, "relevant": rel,
           "retrieved": [{"doc_id": d, "score": round(s, 4)} for d, s in ranked[:10]]}
    return row, seconds, curve


def _score_answers(kb: KnowledgeBase, query: Query, mode: str, retrieval):
    start = time.perf_counter()
    passages = kb.search(query.text, k=CURVE_DEPTH, mode=mode, retrieval=retrieval)
    seconds = time.perf_counter() - start
    metrics: dict[str, float | None] = {}
    curve = None
    if not query.unanswerable:
        rank = first_hit_rank([p.text for p in passages], query.answers)
        metrics.update({f"answer_recall@{k}": hit_at_k(rank, k) for k in (1, 5, 10)})
        curve = recall_curve([rank], CURVE_DEPTH)
    if query.qrels:
        doc_rank = next((i + 1 for i, p in enumerate(passages) if p.doc_id in query.qrels), None)
        metrics.update({f"recall@{k}": hit_at_k(doc_rank, k) for k in (1, 5, 10)})
        metrics["mrr@10"] = 1.0 / doc_rank if doc_rank and doc_rank <= 10 else 0.0
    row = {"qid": query.qid, "question": query.text, "answers": list(query.answers),
           "unanswerable": query.unanswerable, "metrics": metrics,
           "retrieved": [{"doc_id": p.doc_id, "start": p.start, "end": p.end, "score": round(p.score, 4),
                          "text": p.text} for p in passages[:3]]}
    return row, seconds, curve
