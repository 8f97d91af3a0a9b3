"""Answers on every question set, the reader against the scorer alone, in one run.

Each set is evaluated as `groundqa eval` evaluates it (hybrid retrieval, `ask` with k=8, the
calibrated threshold), once with the reader (the default) and once with `reader=False` (the
bi-encoder scorer alone, as groundqa answered before). SQuAD rows are also split by article:
the reader was trained and calibrated on some articles (scripts/reader_data.py); "held out"
rows count only the others. Writes benchmarks/results/answers.{json,md}.

    .venv/bin/python benchmarks/answers_table.py                  # everything (~45 min on 2 cores)
    .venv/bin/python benchmarks/answers_table.py --sets realdocs seed   # a few sets
    .venv/bin/python benchmarks/answers_table.py --merge a.json b.json  # one table from runs split over cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from qa import KnowledgeBase  # noqa: E402
from qa.evaluation.datasets import load_dataset  # noqa: E402
from qa.evaluation.runner import cached_knowledge_base, evaluate  # noqa: E402
from reader_data import SQUAD1, SQUAD2, article_split  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
METRICS = ("quote_answer_recall@1", "quote_answer_recall@3", "abstain_rate_answerable",
           "abstain_rate_unanswerable", "abstain_rate_article_removed")
# name: (question file or SQuAD json, folder to index for a question set)
SETS = {
    "realdocs": (ROOT / "tests/data/realdocs-dev.jsonl", DATA / "realdocs-dev"),
    "seed": (ROOT / "tests/data/seed_questions.jsonl", DATA / "seed"),
    "seed_reworded": (ROOT / "tests/data/seed_reworded.jsonl", DATA / "seed"),
    "samples": (ROOT / "tests/data/sample_questions.jsonl", ROOT / "corpus/samples"),
    "samples_near_misses": (ROOT / "tests/data/sample_near_misses.jsonl", ROOT / "corpus/samples"),
    "squad2": (SQUAD2, None),
    "squad1": (SQUAD1, None),
}


def mean_metrics(rows: list[dict]) -> dict[str, float]:
    out = {}
    for name in METRICS:
        values = [r["metrics"][name] for r in rows if r["metrics"].get(name) is not None]
        if values:
            out[name] = round(float(np.mean(values)), 4)
    return out


def squad_groups(path: Path, dataset) -> dict[str, set[str]]:
    """Question ids of the held-out articles and of the articles the reader was fit on."""
    titles = [a["title"] for a in json.loads(path.read_text(encoding="utf-8"))["data"]]
    v1 = path == SQUAD1
    held, fit = set(), set()
    for q in dataset.queries:
        a = int(q.own_documents[0].split("-")[0])
        (held if article_split(titles[a], a if v1 else None) == "test" else fit).add(q.qid)
    return {"held out": held, "train+calibrate": fit}


def run_set(name: str, work: Path, readers: tuple[bool, ...] = (True, False), every: int = 1) -> list[dict]:
    source, folder = SETS[name]
    dataset = load_dataset(source)
    if every > 1:  # a systematic sample across every article, the same for both ways of answering
        dataset = replace(dataset, queries=dataset.queries[::every])
    if dataset.documents is None:
        kb = KnowledgeBase.build([folder], index_dir=work / name, show_progress=False)
    else:
        kb = cached_knowledge_base(dataset, show_progress=True)
    rows = []
    for reader in readers:
        start = time.perf_counter()
        run = evaluate(kb, dataset, reader=reader, show_progress=True)
        label = "reader" if reader else "scorer alone"
        base = {"set": name, "answers_by": label, "questions": len(dataset.queries),
                "ask_p50_ms": run.ask_latency_ms["p50"] if run.ask_latency_ms else None,
                "seconds": round(time.perf_counter() - start, 1)}
        rows.append({**base, "subset": "all" if every == 1 else f"every {every}th question", **mean_metrics(run.per_query)})
        if dataset.kind == "squad":
            for subset, qids in squad_groups(source, dataset).items():
                mine = [r for r in run.per_query if r["qid"] in qids]
                rows.append({**base, "subset": subset, "questions": len(mine), **mean_metrics(mine)})
        print(json.dumps(rows[-1] if dataset.kind != "squad" else rows[-3]), flush=True)
        if dataset.kind == "squad":
            print(json.dumps(rows[-2]), json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| set | subset | answers by | questions | recall@1 | recall@3 | abstain answerable | "
            "abstain unanswerable | abstain article removed | ask p50 ms |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")

    def cell(r, k, pct=False):
        v = r.get(k)
        return "" if v is None else (f"{100 * v:.1f}%" if pct else f"{v:.4f}" if isinstance(v, float) else str(v))

    return head + "".join(
        f"| {r['set']} | {r['subset']} | {r['answers_by']} | {r['questions']} | {cell(r, 'quote_answer_recall@1')} | "
        f"{cell(r, 'quote_answer_recall@3')} | {cell(r, 'abstain_rate_answerable', True)} | "
        f"{cell(r, 'abstain_rate_unanswerable', True)} | {cell(r, 'abstain_rate_article_removed', True)} | "
        f"{cell(r, 'ask_p50_ms')} |\n" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=tuple(SETS), default=list(SETS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "answers")
    parser.add_argument("--answers-by", choices=("both", "reader", "scorer"), default="both",
                        help="run with the reader, with the scorer alone, or both (default)")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="SQuAD sets: ask every Nth question only (default 1: all)")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="JSON",
                        help="write one table from the rows of earlier runs instead of running")
    args = parser.parse_args()
    rows = []
    if args.merge:
        for path in args.merge:
            rows += json.loads(path.read_text(encoding="utf-8"))["rows"]
    else:
        with tempfile.TemporaryDirectory(prefix="groundqa-answers-") as work:
            for name in args.sets:
                rows += run_set(name, Path(work), {"both": (True, False), "reader": (True,),
                                                   "scorer": (False,)}[args.answers_by],
                                args.every if name.startswith("squad") else 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(rows), encoding="utf-8")
    print(markdown(rows))


if __name__ == "__main__":
    main()
