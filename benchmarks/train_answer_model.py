"""Train groundqa's sentence scorer and confidence model on SQuAD dev, tuning articles only.

The first `--tune-articles` articles of SQuAD dev v1.1 (25% by default) are the training data;
the remaining articles are held out and only reported. Writes `qa/answer_model.json` and
`benchmarks/results/answer_model.{json,md,png}` (abstention trade-off and reliability table).

    .venv/bin/python benchmarks/train_answer_model.py --squad ../shared/data/squad/dev-v1.1.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answers import CONFIDENCE_FEATURES, FEATURES, confidence_features, sigmoid  # noqa: E402
from qa.evaluation.datasets import load_squad  # noqa: E402
from qa.evaluation.metrics import first_hit_rank  # noqa: E402
from qa.evaluation.runner import cached_knowledge_base  # noqa: E402


def article_of(query) -> int:
    return int(query.own_documents[0].split("-")[0])


def collect(kb, queries, k: int, desc: str) -> list[dict]:
    """Features of every candidate sentence, asked with and without the question's own article."""
    out = []
    for q in tqdm(queries, desc=desc, unit="q"):
        _, cands, feats = kb.sentence_candidates(q.text, k)
        labels = np.array([first_hit_rank([c.text], q.answers) is not None for c in cands], dtype=bool)
        _, _, feats_without = kb.sentence_candidates(q.text, k, exclude=q.own_documents)
        out.append({"features": feats, "labels": labels, "features_without": feats_without,
                    "texts": [c.text for c in cands]})
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def apply(rows, weights, bias, conf_weights):
    """Per question: did the top quote / top 3 hold the answer, confidence with and without its article."""
    results = []
    for r in rows:
        res = {}
        for key, feats in (("with", r["features"]), ("without", r["features_without"])):
            if len(feats) == 0:
                res[key] = {"confidence": 0.0, "order": []}
                continue
            probs = sigmoid(feats @ weights + bias)
            conf = float(sigmoid(confidence_features(probs, feats) @ conf_weights))
            res[key] = {"confidence": conf, "order": np.argsort(-probs, kind="stable")}
        order = res["with"]["order"]
        labels = r["labels"]
        res["hit1"] = bool(len(order) and labels[order[0]])
        res["hit3"] = bool(len(order) and labels[order[:3]].any())
        results.append(res)
    return results


def rates(results, threshold):
    n = len(results)
    abstain_ans = sum(r["with"]["confidence"] < threshold for r in results) / n
    abstain_unans = sum(r["without"]["confidence"] < threshold for r in results) / n
    r1 = sum(r["hit1"] and r["with"]["confidence"] >= threshold for r in results) / n
    r3 = sum(r["hit3"] and r["with"]["confidence"] >= threshold for r in results) / n
    return {"threshold": round(float(threshold), 4), "quote_answer_recall@1": round(r1, 4),
            "quote_answer_recall@3": round(r3, 4), "abstain_rate_answerable": round(abstain_ans, 4),
            "abstain_rate_unanswerable": round(abstain_unans, 4)}


def reliability(results, bins=10):
    """Confidence bins of answered (full-corpus) questions and how often the top quote held the answer."""
    table = []
    conf = np.array([r["with"]["confidence"] for r in results])
    hit = np.array([r["hit1"] for r in results])
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if mask.any():
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(mask.sum()),
                          "mean_confidence": round(float(conf[mask].mean()), 3),
                          "top_quote_correct": round(float(hit[mask].mean()), 3)})
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad/dev-v1.1.json")
    parser.add_argument("--tune-articles", type=int, default=12)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-answerable-abstain", type=float, default=0.04,
                        help="threshold choice: most unanswerable abstentions with at most this answerable rate")
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "answer_model.json")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    if not args.squad.is_file():
        print(f"SQuAD file not found: {args.squad}", file=sys.stderr)
        return 1

    dataset = load_squad(args.squad)
    kb = cached_knowledge_base(dataset, cache_dir=args.cache_dir)
    tune = [q for q in dataset.queries if article_of(q) < args.tune_articles and not q.unanswerable]
    held = [q for q in dataset.queries if article_of(q) >= args.tune_articles and not q.unanswerable]
    started = time.time()
    tune_rows = collect(kb, tune, args.k, "features (tuning articles)")

    x = np.vstack([r["features"] for r in tune_rows if len(r["features"])])
    y = np.concatenate([r["labels"] for r in tune_rows if len(r["features"])])
    weights, bias = fit_logistic(x, y)

    conf_x, conf_y = [], []
    for r in tune_rows:
        for feats, answerable in ((r["features"], True), (r["features_without"], False)):
            if len(feats) == 0:
                continue
            probs = sigmoid(feats @ weights + bias)
            top_ok = answerable and bool(r["labels"][int(np.argmax(probs))]) if answerable else False
            conf_x.append(confidence_features(probs, feats)[:-1])
            conf_y.append(top_ok)
    cw, cb = fit_logistic(np.array(conf_x), np.array(conf_y))
    conf_weights = np.append(cw, cb)

    tune_results = apply(tune_rows, weights, bias, conf_weights)
    sweep = [rates(tune_results, t) for t in np.linspace(0, 0.6, 121)]
    ok = [s for s in sweep if s["abstain_rate_answerable"] <= args.max_answerable_abstain]
    chosen = max(ok, key=lambda s: (s["abstain_rate_unanswerable"], -s["threshold"]))["threshold"] if ok else 0.0

    held_rows = collect(kb, held, args.k, "features (held-out articles)")
    held_results = apply(held_rows, weights, bias, conf_weights)
    held_sweep = [rates(held_results, t) for t in np.linspace(0, 0.6, 121)]
    summary = {
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": f"{args.squad.name}: articles 0-{args.tune_articles - 1} for training "
                f"({len(tune)} questions), articles {args.tune_articles}-{len(set(map(article_of, dataset.queries))) - 1} "
                f"held out ({len(held)} questions)",
        "k": args.k, "threshold": chosen,
        "tuning": rates(tune_results, chosen), "held_out": rates(held_results, chosen),
        "held_out_reliability": reliability(held_results), "held_out_sweep": held_sweep,
        "seconds": round(time.time() - started, 1),
    }
    model = {
        "features": list(FEATURES), "weights": [round(float(w), 6) for w in weights], "bias": round(bias, 6),
        "confidence_features": list(CONFIDENCE_FEATURES),
        "confidence_weights": [round(float(w), 6) for w in conf_weights], "threshold": chosen,
        "provenance": {"name": f"squad-dev-articles-0-{args.tune_articles - 1}", "trained": summary["trained"],
                       "data": summary["data"], "script": "benchmarks/train_answer_model.py"},
    }
    args.out.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "answer_model.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_markdown(args.results / "answer_model.md", summary)
    plot(args.results / "answer_model.png", held_sweep, chosen)
    print(json.dumps({k: summary[k] for k in ("threshold", "tuning", "held_out")}, indent=2))
    return 0


def write_markdown(path: Path, s: dict) -> None:
    lines = [f"# Answer model (sentence scorer + confidence), trained {s['trained']}", "", s["data"], "",
             f"Chosen abstention threshold: **{s['threshold']}**", "",
             "| split | quote_answer_recall@1 | @3 | abstain (answerable) | abstain (unanswerable) |",
             "|---|---:|---:|---:|---:|"]
    for split in ("tuning", "held_out"):
        r = s[split]
        lines.append(f"| {split} | {r['quote_answer_recall@1']:.4f} | {r['quote_answer_recall@3']:.4f} | "
                     f"{r['abstain_rate_answerable']:.4f} | {r['abstain_rate_unanswerable']:.4f} |")
    lines += ["", "Reliability on held-out articles (answerable questions, full corpus):", "",
              "| confidence | questions | mean confidence | top quote holds the answer |", "|---|---:|---:|---:|"]
    lines += [f"| {b['bin']} | {b['n']} | {b['mean_confidence']:.3f} | {b['top_quote_correct']:.3f} |"
              for b in s["held_out_reliability"]]
    lines += ["", "Abstention trade-off on held-out articles (every 10th threshold):", "",
              "| threshold | abstain answerable | abstain unanswerable | quote recall@1 |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['threshold']:.3f} | {r['abstain_rate_answerable']:.4f} | {r['abstain_rate_unanswerable']:.4f} | "
              f"{r['quote_answer_recall@1']:.4f} |" for r in s["held_out_sweep"][::10]]
    lines += ["", "![trade-off](answer_model.png)", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def plot(path: Path, sweep: list[dict], chosen: float) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), dpi=110)
    ax = fig.add_subplot()
    ax.plot([r["abstain_rate_answerable"] for r in sweep], [r["abstain_rate_unanswerable"] for r in sweep])
    point = min(sweep, key=lambda r: abs(r["threshold"] - chosen))
    ax.scatter([point["abstain_rate_answerable"]], [point["abstain_rate_unanswerable"]], color="red",
               label=f"chosen threshold {chosen:.3f}")
    ax.set_xlabel("abstain rate, answerable questions")
    ax.set_ylabel("abstain rate, unanswerable questions")
    ax.set_title("Abstention trade-off (SQuAD dev, held-out articles)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
