"""Train groundqa's sentence scorer and confidence model on SQuAD dev, tuning articles only.

The `--train-articles` of SQuAD dev v1.1 (default 0-11, a quarter) are the training data; the
remaining articles are held out and only reported. (Training on 0-7 and 10 only, so that the
reader's calibration articles 8, 9 and 11 stay unseen by both models, was tried: the calibration
top-1 stayed 0.91 and realdocs-dev lost 3 of 87 answers at top-1 and 2 of 34 abstentions.) Questions are asked against the whole
corpus (with and without their own article) and against small corpora cut from single articles
(benchmarks/small_corpora.py), so that confidence means the same in a 5-paragraph index as in a
2,000-paragraph one. Writes `qa/answer_model.json` and `benchmarks/results/answer_model.{json,md,png}`
(abstention trade-off, reliability table, abstention by corpus size).

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

from qa.answers import AnswerModel, Ensemble, Network, confidence_features  # noqa: E402
from qa.evaluation.datasets import load_squad  # noqa: E402
from qa.evaluation.metrics import first_hit_rank  # noqa: E402
from qa.evaluation.runner import cached_knowledge_base  # noqa: E402
from small_corpora import collect_small, load_records, save_records  # noqa: E402


def parse_articles(text: str) -> set[int]:
    """"0-7,10" -> {0, 1, ..., 7, 10}."""
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def article_of(query) -> int:
    return int(query.own_documents[0].split("-")[0])


def collect(kb, queries, k: int, desc: str, cache: Path | None = None) -> list[dict]:
    """Features of every candidate sentence, asked with and without the question's own article."""
    if cache is not None and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        n = len(data["sizes"])
        cut = np.cumsum(data["sizes"])[:-1]
        cut_without = np.cumsum(data["sizes_without"])[:-1]
        feats, labels = np.split(data["features"], cut), np.split(data["labels"], cut)
        without = np.split(data["features_without"], cut_without)
        return [{"features": feats[i], "labels": labels[i], "features_without": without[i]} for i in range(n)]
    out = []
    for q in tqdm(queries, desc=desc, unit="q"):
        _, cands, feats = kb.sentence_candidates(q.text, k)
        labels = np.array([first_hit_rank([c.text], q.answers) is not None for c in cands], dtype=bool)
        _, _, feats_without = kb.sentence_candidates(q.text, k, exclude=q.own_documents)
        out.append({"features": feats, "labels": labels, "features_without": feats_without})
    if cache is not None:  # features of this feature set, to try other models without asking again
        np.savez(cache, features=np.vstack([r["features"] for r in out]),
                 labels=np.concatenate([r["labels"] for r in out]),
                 features_without=np.vstack([r["features_without"] for r in out]),
                 sizes=np.array([len(r["features"]) for r in out]),
                 sizes_without=np.array([len(r["features_without"]) for r in out]))
    return out


def small_records(kb, queries, articles, k: int, seed: int, desc: str, cache: Path | None) -> list[dict]:
    """Asks against small corpora cut from `articles` (see small_corpora.py), reused from `cache`."""
    if cache is not None and cache.is_file():
        return load_records(cache)
    records = collect_small(kb, queries, articles, k=k, seed=seed, desc=desc)
    if cache is not None:
        save_records(cache, records)
    return records


def fit_ensemble(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...] = (), members: int = 5) -> Ensemble:
    """`members` networks fit from different random starts (one for a logistic regression, which has none)."""
    return Ensemble(tuple(fit_network(x, y, hidden, seed) for seed in range(members if hidden else 1)))


def fit_network(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...] = (), seed: int = 0,
                sample_weight: np.ndarray | None = None) -> Network:
    """Standardize, then logistic regression (no hidden layer) or a small ReLU network; as a `Network`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    hidden = tuple(hidden)
    if not hidden:
        model = LogisticRegression(C=1.0, max_iter=3000).fit(z, y, sample_weight=sample_weight)
        layers = ((model.coef_.T.copy(), model.intercept_.copy()),)
    else:
        model = MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-3, max_iter=400, early_stopping=True,
                              random_state=seed).fit(z, y)
        layers = tuple((w.copy(), b.copy()) for w, b in zip(model.coefs_, model.intercepts_))
    return Network(mean, scale, layers)


def top_accuracy(rows, scorer: Ensemble | Network, n: int = 1) -> float:
    """Share of questions whose `n` best-scored sentences include one that holds the answer."""
    hits = [bool(r["labels"][np.argsort(-scorer.predict(r["features"]), kind="stable")[:n]].any())
            for r in rows if len(r["features"])]
    return sum(hits) / max(1, len(rows))


def stack(rows):
    rows = [r for r in rows if len(r["features"])]
    return np.vstack([r["features"] for r in rows]), np.concatenate([r["labels"] for r in rows])


def confidence_data(rows, small, scorer: Ensemble, chunks: int):
    """Query-level features with label 1 when the top quote holds the answer (asked without the
    question's own article, or without the paragraphs holding its answer, the label is always 0)."""
    asks = [(feats, labels, answerable, chunks) for r in rows
            for feats, labels, answerable in ((r["features"], r["labels"], True),
                                              (r["features_without"], None, False))]
    asks += [(r["features"], r["labels"], r["answerable"], r["chunks"]) for r in small]
    xs, ys = [], []
    for feats, labels, answerable, n in asks:
        if len(feats) == 0:
            continue
        probs = scorer.predict(feats)
        xs.append(confidence_features(probs, feats, n))
        ys.append(answerable and bool(labels[int(np.argmax(probs))]))
    return np.array(xs), np.array(ys)


def small_rates(records, model: AnswerModel, threshold: float) -> list[dict]:
    """Per small-corpus kind: corpus size, abstention on answerable and unanswerable asks, top-quote recall."""
    out = []
    for regime in sorted({r["regime"] for r in records}):
        mine = [r for r in records if r["regime"] == regime]
        conf, hit, answerable = [], [], []
        for r in mine:
            if len(r["features"]):
                probs = model.scorer.predict(r["features"])
                conf.append(model.confidence_of(probs, r["features"], r["chunks"]))
                hit.append(bool(r["labels"][int(np.argmax(probs))]))
            else:
                conf.append(0.0)
                hit.append(False)
            answerable.append(r["answerable"])
        conf, hit, answerable = np.array(conf), np.array(hit), np.array(answerable)
        out.append({"corpus": regime, "median_chunks": int(np.median([r["chunks"] for r in mine])),
                    "answerable": int(answerable.sum()), "unanswerable": int((~answerable).sum()),
                    "abstain_rate_answerable": round(float(np.mean(conf[answerable] < threshold)), 4),
                    "abstain_rate_unanswerable": round(float(np.mean(conf[~answerable] < threshold)), 4),
                    "quote_answer_recall@1": round(float(np.mean(hit[answerable] & (conf[answerable] >= threshold))), 4)})
    return out


def apply(rows, model: AnswerModel, chunks: int):
    """Per question: did the top quote / top 3 hold the answer, confidence with and without its article."""
    results = []
    for r in rows:
        res = {}
        for key, feats in (("with", r["features"]), ("without", r["features_without"])):
            if len(feats) == 0:
                res[key] = {"confidence": 0.0, "order": []}
                continue
            probs = model.scorer.predict(feats)
            res[key] = {"confidence": model.confidence_of(probs, feats, chunks), "order": np.argsort(-probs, kind="stable")}
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
    return reliability_table(np.array([r["with"]["confidence"] for r in results]),
                             np.array([r["hit1"] for r in results]), bins)


def reliability_table(conf: np.ndarray, hit: np.ndarray, bins: int = 10) -> list[dict]:
    """Rows of `bins` equal confidence bins: size, mean confidence, and the share of `hit` in each."""
    table = []
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
    parser.add_argument("--train-articles", default="0-11", metavar="LIST",
                        help="SQuAD v1.1 article numbers to train on (default 0-11), e.g. 0-7,10")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-answerable-abstain", type=float, default=0.04,
                        help="threshold choice: most unanswerable abstentions with at most this answerable rate")
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "answer_model.json")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--small-held-step", type=int, default=3,
                        help="small corpora of every N-th held-out article are reported")
    parser.add_argument("--confidence-hidden", type=int, nargs="*", default=[8],
                        help="hidden layer sizes of the confidence model (none: logistic regression); one "
                             "small layer lets the corpus size move the other signals' weights")
    parser.add_argument("--members", type=int, default=5,
                        help="networks per model, fit from different random starts and averaged")
    parser.add_argument("--features-cache", type=Path, default=None, metavar="DIR",
                        help="save (or reuse) the collected features here, to iterate on the model quickly")
    args = parser.parse_args()
    if not args.squad.is_file():
        print(f"SQuAD file not found: {args.squad}", file=sys.stderr)
        return 1

    dataset = load_squad(args.squad)
    kb = cached_knowledge_base(dataset, cache_dir=args.cache_dir)
    n_chunks = len(kb.chunks)
    answerable = [q for q in dataset.queries if not q.unanswerable]
    train_articles = parse_articles(args.train_articles)
    tune = [q for q in answerable if article_of(q) in train_articles]
    held = [q for q in answerable if article_of(q) not in train_articles]
    n_articles = len(set(map(article_of, dataset.queries)))
    held_articles = [a for a in range(n_articles) if a not in train_articles]
    started = time.time()
    cache = args.features_cache
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    tune_rows = collect(kb, tune, args.k, "features (tuning articles)", cache and cache / "tune.npz")
    held_rows = collect(kb, held, args.k, "features (held-out articles)", cache and cache / "held.npz")
    held_small_articles = held_articles[::args.small_held_step]
    tune_small = small_records(kb, answerable, sorted(train_articles), args.k, 0,
                               "small corpora (tuning articles)", cache and cache / "small_tune.npz")
    held_small = small_records(kb, answerable, held_small_articles, args.k, 1,
                               "small corpora (held-out articles)", cache and cache / "small_held.npz")

    # Model choice on a validation split inside the tuning articles; then refit on all of them.
    val_cut = int(len(tune_rows) * 0.75)
    fit_rows, val_rows = tune_rows[:val_cut], tune_rows[val_cut:]
    candidates = {"logistic": (), "mlp-32-16": (32, 16)}
    validation = {}
    for name, hidden in candidates.items():
        network = fit_ensemble(*stack(fit_rows), hidden, args.members)
        validation[name] = (top_accuracy(val_rows, network, 1), top_accuracy(val_rows, network, 3))
    kind = max(validation, key=validation.get)  # top-1 accuracy, ties broken by top-3
    print("validation top-1, top-3 accuracy:", validation, "->", kind, flush=True)
    scorer = fit_ensemble(*stack(tune_rows), candidates[kind], args.members)
    confidence = fit_ensemble(*confidence_data(tune_rows, tune_small, scorer, n_chunks), args.confidence_hidden,
                              args.members)
    model = AnswerModel(scorer, confidence, 0.5, {})

    tune_results = apply(tune_rows, model, n_chunks)
    sweep = [rates(tune_results, t) for t in np.linspace(0, 0.6, 121)]
    ok = [s for s in sweep if s["abstain_rate_answerable"] <= args.max_answerable_abstain]
    chosen = max(ok, key=lambda s: (s["abstain_rate_unanswerable"], -s["threshold"]))["threshold"] if ok else 0.0

    held_results = apply(held_rows, model, n_chunks)
    held_sweep = [rates(held_results, t) for t in np.linspace(0, 0.6, 121)]
    summary = {
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": f"{args.squad.name}: articles {args.train_articles} for training "
                f"({len(tune)} questions), the other {len(held_articles)} of {n_articles} articles "
                f"held out ({len(held)} questions); small corpora cut from the training articles and from "
                f"held-out articles {held_small_articles[0]}, {held_small_articles[1]}, ... (one in "
                f"{args.small_held_step})",
        "k": args.k, "threshold": chosen, "corpus_chunks": n_chunks,
        "tuning": rates(tune_results, chosen), "held_out": rates(held_results, chosen),
        "held_out_small_corpora": small_rates(held_small, model, chosen),
        "held_out_reliability": reliability(held_results), "held_out_sweep": held_sweep,
        "seconds": round(time.time() - started, 1),
    }
    summary["scorer"] = {"kind": kind, "members": args.members, "validation_top1_top3": validation}
    final = AnswerModel(scorer, confidence, chosen, {
        "name": f"squad-dev-articles-{args.train_articles.replace(',', '+')}-{kind}-x{args.members}", "trained": summary["trained"],
        "data": summary["data"], "scorer": kind, "script": "benchmarks/train_answer_model.py"})
    args.out.write_text(json.dumps(final.to_dict(), indent=1) + "\n", encoding="utf-8")
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
    lines += ["", "Abstention in small corpora cut from held-out articles (benchmarks/small_corpora.py; `article`:",
              "one article alone, unanswerable = its own questions without the paragraphs holding the answer, or",
              "another article's questions; `group`: 5 of its paragraphs, unanswerable = the article's other",
              "questions, or another article's):", "",
              "| corpus | median chunks | answerable asks | unanswerable asks | abstain (answerable) | "
              "abstain (unanswerable) | quote recall@1 |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['corpus']} | {r['median_chunks']} | {r['answerable']} | {r['unanswerable']} | "
              f"{r['abstain_rate_answerable']:.4f} | {r['abstain_rate_unanswerable']:.4f} | "
              f"{r['quote_answer_recall@1']:.4f} |" for r in s["held_out_small_corpora"]]
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
