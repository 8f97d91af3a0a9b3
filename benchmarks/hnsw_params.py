"""HNSW settings against size: recall@10 and search time of FAISS HNSW (8-bit codes, hits scored
exactly, as `embeddings.ann_index` searches) for graph degrees M, build breadths efConstruction
and search breadths efSearch, on N vectors derived as benchmarks/scale.py derives them (mixes of
real MiniLM vectors of SciFact abstracts, plus noise) and, as queries, the 808 real SciFact
claims scale.py never asks (it asks 300 others: settings are not chosen on its queries). The
bare FAISS search and the rescoring are timed here; scale.py times the whole `search_by_vector` call.

    .venv/bin/python benchmarks/hnsw_params.py --n 1000000 --graphs 48/160,64/240 --ef 512,640,768,896 --out benchmarks/results/hnsw_params.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from scale import BASE_TEXTS, SCIFACT, DerivedEncoder, dev_claims  # noqa: E402

RERANK = 40


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors (default 1,000,000)")
    parser.add_argument("--graphs", default="32/80,32/160", help="M/efConstruction pairs, comma-separated")
    parser.add_argument("--ef", default="384,512,768,1024", help="efSearch values, comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="also add the rows to this JSON file")
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        sys.exit(f"needs SciFact at {SCIFACT}")
    import faiss

    from embeddings.backends import load_encoder

    encoder = load_encoder()
    rows = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl", encoding="utf-8")]
    base = encoder.encode([f"{r['title']}\n{r['text']}"[:1000] for r in rows[:BASE_TEXTS]])
    queries = np.vstack([encoder.encode_query(q) for q in dev_claims()]).astype(np.float32)
    derived = DerivedEncoder(base)
    vectors = np.vstack([derived.encode([f"chunk {i}" for i in range(s, min(s + 100_000, args.n))])
                         for s in range(0, args.n, 100_000)]).astype(np.float32)
    scores = vectors @ queries.T
    truth = [set(np.argpartition(-scores[:, j], 10)[:10].tolist()) for j in range(len(queries))]
    del scores
    out = []
    for graph in args.graphs.split(","):
        m, construction = map(int, graph.split("/"))
        index = faiss.IndexHNSWSQ(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = construction
        index.train(vectors[np.random.default_rng(0).choice(args.n, min(args.n, 100_000), replace=False)])
        start = time.perf_counter()
        index.add(vectors)
        build = time.perf_counter() - start
        for ef in map(int, args.ef.split(",")):
            hits, times = 0, []
            params = faiss.SearchParametersHNSW(efSearch=ef)
            for j, q in enumerate(queries):
                start = time.perf_counter()
                _, ids = index.search(q[None], RERANK, params=params)
                ids = ids[0][ids[0] >= 0]
                ids = ids[np.argsort(-(vectors[ids] @ q))[:10]]
                times.append(time.perf_counter() - start)
                hits += len(set(ids.tolist()) & truth[j])
            row = {"n": args.n, "M": m, "efConstruction": construction, "build_s": round(build, 1), "efSearch": ef,
                   "recall_at_10": round(hits / (10 * len(queries)), 4),
                   "search_p50_ms": round(float(np.median(times)) * 1000, 3),
                   "search_p95_ms": round(float(np.percentile(times, 95)) * 1000, 3)}
            print(json.dumps(row), flush=True)
            out.append(row)
    if args.out:
        old = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {"rows": []}
        keys = {(r["n"], r["M"], r["efConstruction"], r["efSearch"]) for r in out}
        rows = [r for r in old["rows"] if (r["n"], r["M"], r["efConstruction"], r["efSearch"]) not in keys] + out
        args.out.write_text(json.dumps({"command": " ".join(["benchmarks/hnsw_params.py", *sys.argv[1:]]), "rows": rows}, indent=1) + "\n",
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
