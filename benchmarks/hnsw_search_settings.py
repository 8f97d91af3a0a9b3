"""HNSW search settings on a built index, with dev queries the scale benchmark never asks.

Recall@k (against an exact scan of every chunk vector) and time per dense search through the
index's own search path, for a few (rerank depth, efSearch, fewest candidates rescored) settings,
at k 10 (a dense search) and 100 (the candidates a hybrid `ask` takes from each side). Two dev query sets, neither of which
`benchmarks/scale.py` asks, so choosing settings here does not fit the figures it reports: the
titles of SciFact abstracts 2000-2299 (it derives its vectors from abstracts 0-1999), and the 808
SciFact claims it does not sample (it asks 300 of the 1,109; claims are harder than titles).


    .venv/bin/python benchmarks/scale.py --chunks 1000000 --work /tmp/s1m
    .venv/bin/python benchmarks/hnsw_search_settings.py /tmp/s1m/index --out benchmarks/results/hnsw_search_settings.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
# (rerank, efSearch, fewest candidates scored exactly)
SETTINGS = [(2, 384, 40), (2, 512, 10), (2, 512, 20), (2, 512, 30), (2, 512, 40), (4, 512, 40), (10, 512, 40),
            (2, 640, 40), (2, 768, 40)]
DEPTHS = (10, 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="an index built with --index-type hnsw")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not (SCIFACT / "corpus.jsonl").is_file():
        sys.exit(f"needs SciFact at {SCIFACT}")
    import embeddings.ann_index as ann
    from embeddings.backends import load_encoder
    from qa import KnowledgeBase
    from scale import dev_claims

    titles = [json.loads(line)["title"] for line in open(SCIFACT / "corpus.jsonl", encoding="utf-8")][2000:2300]
    encoder = load_encoder()
    kb = KnowledgeBase.open(args.index, encoder=encoder)
    matrix = np.asarray(kb._matrix, dtype=np.float32)
    out = []
    for name, texts in (("titles of SciFact abstracts 2000-2299", titles),
                        ("SciFact claims scale.py does not ask", dev_claims())):
        queries = np.vstack([encoder.encode_query(t) for t in texts]).astype(np.float32)
        out += measure(kb, ann, matrix, queries, name)
    if args.out:
        args.out.write_text(json.dumps({"rows": out}, indent=1) + "\n")
    return 0


def measure(kb, ann, matrix: np.ndarray, queries: np.ndarray, name: str) -> list[dict]:
    """Rows of recall and time for every (k, rerank, efSearch) on these queries."""
    scores = matrix @ queries.T
    order = np.argsort(-scores, axis=0, kind="stable")[:max(DEPTHS)]
    truth = {k: [set(order[:k, j].tolist()) for j in range(len(queries))] for k in DEPTHS}
    del scores, order
    for q in queries:  # once untimed, so that no setting pays for reading cold segment files
        kb._vectors.search(q, max(DEPTHS))
    out, kept = [], (ann.HNSW_RERANK, ann.HNSW_EF_SEARCH, ann.HNSW_MIN_CANDIDATES)
    for k in DEPTHS:
        for rerank, ef, least in SETTINGS:
            ann.HNSW_RERANK, ann.HNSW_EF_SEARCH, ann.HNSW_MIN_CANDIDATES = rerank, ef, least
            found, times = [], []
            for q in queries:
                start = time.perf_counter()
                _, ids = kb._vectors.search(q, k)
                times.append(time.perf_counter() - start)
                found.append(set(ids.tolist()))
            row = {"queries": name, "chunks": len(kb._vectors), "k": k, "rerank": rerank, "ef_search": ef,
                   "min_candidates": least,
                   "recall": round(float(np.mean([len(a & b) / k for a, b in zip(found, truth[k])])), 4),
                   "search_p50_ms": round(float(np.median(times)) * 1000, 2)}
            print(json.dumps(row), flush=True)
            out.append(row)
    ann.HNSW_RERANK, ann.HNSW_EF_SEARCH, ann.HNSW_MIN_CANDIDATES = kept
    return out


if __name__ == "__main__":
    sys.exit(main())
