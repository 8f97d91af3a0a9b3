"""Tune hybrid fusion on BEIR SciFact *train* queries (never test): a grid over fusion settings.

Opens (or builds) the cached SciFact index `groundqa eval` uses, asks the train queries once per
setting with query vectors memoized, and writes `benchmarks/results/tune_fusion.{json,md}`.

    .venv/bin/python benchmarks/tune_fusion.py --beir ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.evaluation.datasets import load_beir  # noqa: E402
from qa.evaluation.runner import cached_knowledge_base, evaluate  # noqa: E402
from qa.retrieval import RetrievalSettings  # noqa: E402

GRID = ([RetrievalSettings(fusion="score", dense_weight=w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)]
        + [RetrievalSettings(fusion="score", dense_weight=0.5, candidates=200)]
        + [RetrievalSettings(fusion="rrf", rrf_k=k) for k in (10, 30, 60)])


class MemoEncoder:
    """The index's encoder with query vectors remembered, so a grid costs one encoding per query."""

    def __init__(self, encoder):
        self._encoder = encoder
        self.encode_query = lru_cache(maxsize=None)(encoder.encode_query)

    def __getattr__(self, name):
        return getattr(self._encoder, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.split == "test":
        print("refusing to tune on test queries", file=sys.stderr)
        return 1
    dataset = load_beir(args.beir, split=args.split)
    kb = cached_knowledge_base(dataset)
    kb.encoder = MemoEncoder(kb.encoder)
    rows = []
    for settings in GRID:
        run = evaluate(kb, dataset, mode="hybrid", retrieval=settings, show_progress=False)
        rows.append({"settings": settings.to_dict(), "metrics": run.metrics})
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: r["metrics"]["ndcg@10"])
    args.results.mkdir(parents=True, exist_ok=True)
    out = {"dataset": dataset.name, "n_queries": len(dataset.queries), "grid": rows, "best": best}
    (args.results / "tune_fusion.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Fusion tuning on {dataset.name} ({len(dataset.queries)} queries)", "",
             "| fusion | dense weight | rrf k | candidates | nDCG@10 | Recall@100 |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, m = r["settings"], r["metrics"]
        lines.append(f"| {s['fusion']} | {s['dense_weight']} | {s['rrf_k']} | {s['candidates']} | "
                     f"{m['ndcg@10']:.4f} | {m['recall@100']:.4f} |")
    lines += ["", f"Best: {best['settings']}", ""]
    (args.results / "tune_fusion.md").write_text("\n".join(lines), encoding="utf-8")
    print("best:", best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
