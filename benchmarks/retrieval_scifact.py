"""Retrieval benchmark on BEIR SciFact test: groundqa dense / lexical / hybrid, and txtai side by side.

Everything is measured in this one run on this machine: index build time (documents and
passages per second), nDCG@10 / Recall@100, and single-query latency p50/p95. groundqa builds on
its default encoder (int8 ONNX); beside it, that encoder alone encoding the index's chunk texts
once (the floor a build cannot go under). txtai (optional, `pip install -e '.[bench]'`) gets the
same packaged model folder and the same corpus, in its dense and its hybrid configuration, with
torch on all cores for its build as groundqa's encoder has. Writes
benchmarks/results/retrieval_scifact.{json,md}.

    .venv/bin/python benchmarks/retrieval_scifact.py [--beir ../shared/data/scifact] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embeddings import resolve_model_path  # noqa: E402
from embeddings.backends import load_encoder  # noqa: E402
from embeddings.indexer import embedding_texts  # noqa: E402
from qa import KnowledgeBase  # noqa: E402
from qa.evaluation.datasets import load_beir  # noqa: E402
from qa.evaluation.metrics import latency_summary, ndcg_at_k, recall_at_k  # noqa: E402
from qa.evaluation.runner import evaluate  # noqa: E402

PUBLISHED = {"BM25 (BEIR paper)": 0.665, "all-MiniLM-L6-v2 dense (BEIR/SBERT)": 0.645,
             "BM25 + cross-encoder rerank (BEIR paper)": 0.688}


def score_run(dataset, run: dict[str, dict[str, float]]) -> dict[str, float]:
    ndcg, r100 = [], []
    for q in dataset.queries:
        ranking = sorted(run.get(q.qid, {}), key=lambda d: -run[q.qid][d])
        ndcg.append(ndcg_at_k(ranking, q.qrels, 10))
        r100.append(recall_at_k(ranking, q.qrels, 100))
    return {"ndcg@10": round(sum(ndcg) / len(ndcg), 4), "recall@100": round(sum(r100) / len(r100), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--no-peer", action="store_true", help="skip txtai")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if not (args.beir / "corpus.jsonl").is_file():
        print(f"SciFact not found at {args.beir}: nothing to measure", file=sys.stderr)
        return 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    dataset = load_beir(args.beir, split="test")
    rows = []

    encoder = load_encoder()
    encoder.encode(["warm up: the model's first batch"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        kb = KnowledgeBase.from_documents(dataset.documents, index_dir=Path(tmp) / "index", encoder=encoder)
        build_s = time.perf_counter() - start
        counts = kb.manifest["counts"]
        texts = embedding_texts(kb.documents, kb.chunks, encoder)
        start = time.perf_counter()
        encoder.encode(texts)
        bare_s = time.perf_counter() - start
        print(json.dumps({"build_s": round(build_s, 1), "bare_encoder_s": round(bare_s, 1)}), flush=True)
        for mode in ("dense", "lexical", "hybrid"):
            run = evaluate(kb, dataset, mode=mode, show_progress=False)
            rows.append({"system": f"groundqa {mode}", "ndcg@10": run.metrics["ndcg@10"],
                         "recall@100": run.metrics["recall@100"], "build_s": round(build_s, 1),
                         "docs_per_s": round(counts["documents"] / build_s, 1),
                         "passages_per_s": round((counts["chunks"] + counts.get("sentences", 0)) / build_s, 1),
                         "latency_ms": run.latency_ms})
            print(json.dumps(rows[-1]), flush=True)
        ask_seconds = []
        for q in dataset.queries:  # `ask` = hybrid retrieval + sentence scoring + quote verification
            start = time.perf_counter()
            kb.ask(q.text)
            ask_seconds.append(time.perf_counter() - start)
        ask_latency = latency_summary(ask_seconds)
        print(json.dumps({"ask_latency_ms": ask_latency}), flush=True)

    if not args.no_peer:
        try:
            from peer_txtai import run_txtai, txtai_available
        except ImportError:
            txtai_available = lambda: False  # noqa: E731
        if txtai_available():
            docs = [(d.doc_id, f"{d.title} {d.text}") for d in dataset.documents]
            queries = [(q.qid, q.text) for q in dataset.queries]
            for hybrid in (False, True):
                out = run_txtai(docs, queries, model_path=str(resolve_model_path(None)), hybrid=hybrid, threads=1)
                rows.append({"system": f"txtai {'hybrid' if hybrid else 'dense'}", **score_run(dataset, out["run"]),
                             "build_s": round(out["build_s"], 1), "docs_per_s": round(out["docs_per_s"], 1),
                             "passages_per_s": round(out["docs_per_s"], 1), "latency_ms": out["latency_ms"],
                             "version": out.get("txtai_version")})
                print(json.dumps(rows[-1]), flush=True)
        else:
            print("txtai not installed (pip install -e '.[bench]'): peer rows skipped", file=sys.stderr)

    base = next(r for r in rows if r["system"] == "groundqa hybrid")
    for r in rows:
        r["ndcg_vs_groundqa_hybrid"] = round(r["ndcg@10"] / base["ndcg@10"], 3)
        r["latency_p50_vs_groundqa_hybrid"] = round(r["latency_ms"]["p50"] / base["latency_ms"]["p50"], 2)
        r["build_time_vs_groundqa"] = round(r["build_s"] / base["build_s"], 2)
    result = {"dataset": dataset.name, "n_queries": len(dataset.queries), "n_documents": len(dataset.documents),
              "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "published_ndcg@10": PUBLISHED, "rows": rows, "groundqa_ask_latency_ms": ask_latency,
              "index_counts": counts, "encoder": "int8 ONNX (groundqa's default)",
              "bare_encoder_s": round(bare_s, 1), "build_vs_bare_encoder": round(build_s / bare_s, 2)}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "retrieval_scifact.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md = markdown(result)
    (args.results / "retrieval_scifact.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def markdown(result: dict) -> str:
    lines = [f"# Retrieval on {result['dataset']} — {result['n_queries']} queries, {result['n_documents']} documents",
             "", f"Measured {result['when']} on {result['machine']}; every row in the same run.", "",
             "| system | nDCG@10 | Recall@100 | build (s) | docs/s | p50 (ms) | p95 (ms) | nDCG ratio | p50 ratio | build ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['system']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} | {r['build_s']:.0f} | "
                     f"{r['docs_per_s']:.1f} | {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p95']:.1f} | "
                     f"{r['ndcg_vs_groundqa_hybrid']:.3f} | {r['latency_p50_vs_groundqa_hybrid']:.2f} | "
                     f"{r['build_time_vs_groundqa']:.2f} |")
    a = result["groundqa_ask_latency_ms"]
    lines += ["", f"`kb.ask` on the same index (retrieval + sentence scoring + verified quotes): "
              f"p50 {a['p50']:.1f} ms, p95 {a['p95']:.1f} ms, mean {a['mean']:.1f} ms.",
              f"Index: {result['index_counts']}."]
    if "bare_encoder_s" in result:
        lines += [f"The same encoder alone, encoding the index's {result['index_counts']['chunks']:,} chunk texts once: "
                  f"{result['bare_encoder_s']:.0f} s; groundqa's build took {result['build_vs_bare_encoder']:.2f}x that."]
    lines += ["", "Ratios are against groundqa hybrid (nDCG, p50 latency) and groundqa's build time. groundqa's",
              "build also gives every sentence its vector and windows (pooled from the same forward pass, for",
              "`ask`) and counts BM25 terms; txtai's builds encode with torch.", "",
              "Published reference points (nDCG@10 on SciFact):", ""]
    lines += [f"- {k}: {v}" for k, v in result["published_ndcg@10"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
