"""What an evaluation prints and writes: the JSON result, a table, regression checks, and a report folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from qa.evaluation.runner import ModeRun


def result_json(dataset_name: str, n_queries: int, settings: dict, runs: Sequence[ModeRun]) -> dict:
    """One object per the CLI contract; with several modes, one such object per mode under "modes"."""

    def one(run: ModeRun) -> dict:
        out = {"dataset": dataset_name, "n_queries": n_queries, "settings": {**settings, "mode": run.mode},
               "metrics": run.metrics, "latency_ms": run.latency_ms}
        if run.ask_latency_ms:
            out["ask_latency_ms"] = run.ask_latency_ms
        return out

    if len(runs) == 1:
        return one(runs[0])
    return {"dataset": dataset_name, "n_queries": n_queries, "settings": settings,
            "modes": {run.mode: one(run) for run in runs}}


def metrics_by_mode(result: dict) -> dict[str, dict[str, float]]:
    """{mode: metrics} of a result object, single-mode or multi-mode."""
    if "modes" in result:
        return {mode: r["metrics"] for mode, r in result["modes"].items()}
    return {result.get("settings", {}).get("mode", "hybrid"): result["metrics"]}


def table(runs: Sequence[ModeRun]) -> str:
    """Metrics (rows) by mode (columns), plus latency, as a Markdown table."""
    names = list(dict.fromkeys(n for r in runs for n in r.metrics))
    lines = ["| metric | " + " | ".join(r.mode for r in runs) + " |",
             "|---|" + "---:|" * len(runs)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(r.metrics.get(name)) for r in runs) + " |")
    for q in ("p50", "p95", "mean"):
        lines.append(f"| search latency {q} (ms) | " + " | ".join(f"{r.latency_ms[q]:.1f}" for r in runs) + " |")
    if any(r.ask_latency_ms for r in runs):
        for q in ("p50", "p95"):
            lines.append(f"| ask latency {q} (ms) | "
                         + " | ".join(f"{r.ask_latency_ms[q]:.1f}" if r.ask_latency_ms else "–" for r in runs) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"


# Metrics where a smaller value is the better one; every other metric is better higher.
LOWER_IS_BETTER = ("abstain_rate_answerable",)


def lower_is_better(name: str) -> bool:
    """Whether a fall of metric `name` is an improvement: answerable abstention and any latency."""
    return name in LOWER_IS_BETTER or "latency" in name or name.endswith(("_ms", "(ms)"))


def compare(current: dict, baseline: dict, *, tolerance: float) -> tuple[list[str], bool]:
    """Lines of per-metric differences against a baseline result, and whether any metric got worse
    by more than `tolerance` (fell, or rose for a metric that is better lower)."""
    now, before = metrics_by_mode(current), metrics_by_mode(baseline)
    lines, regressed = [], False
    for mode, metrics in now.items():
        old = before.get(mode)
        if old is None:
            lines.append(f"{mode}: not in the baseline")
            continue
        for name, value in metrics.items():
            if name not in old:
                continue
            delta = value - old[name]
            worse_by = delta if lower_is_better(name) else -delta
            bad = worse_by > tolerance
            regressed |= bad
            direction = ", lower is better" if lower_is_better(name) else ""
            flag = "  REGRESSION" if bad else ""
            lines.append(f"{mode} {name}: {old[name]:.4f} -> {value:.4f} ({delta:+.4f}{direction}){flag}")
    return lines, regressed


def write_report(folder: Path, result: dict, runs: Sequence[ModeRun]) -> None:
    """report.md, metrics.json, per_query.jsonl, recall_curve.png and latency.png in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    with (folder / "per_query.jsonl").open("w", encoding="utf-8") as f:
        for run in runs:
            for row in run.per_query:
                f.write(json.dumps({"mode": run.mode, **row}, ensure_ascii=False) + "\n")
    _plot_recall(folder / "recall_curve.png", runs)
    _plot_latency(folder / "latency.png", runs)
    name = result.get("dataset", "")
    n = result.get("n_queries", 0)
    failed = sum(1 for run in runs[:1] for row in run.per_query if _missed(row))
    (folder / "report.md").write_text(
        f"# groundqa evaluation: {name}\n\n{n} questions.\n\n{table(runs)}\n\n"
        f"![recall@k](recall_curve.png)\n\n![latency](latency.png)\n\n"
        f"Per-question results (what was retrieved, which questions failed): `per_query.jsonl` "
        f"({failed} questions missed at rank 10 in mode {runs[0].mode}).\n", encoding="utf-8")


def _missed(row: dict) -> bool:
    m = row["metrics"]
    for key in ("recall@10", "answer_recall@10"):
        if key in m and m[key] is not None:
            return m[key] == 0
    return False


def _figure():
    from matplotlib.figure import Figure

    return Figure(figsize=(7, 4.2), dpi=110)


def _plot_recall(path: Path, runs: Sequence[ModeRun]) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    for run in runs:
        ax.plot(range(1, len(run.curve) + 1), run.curve, label=run.mode)
    ax.set_xscale("log")
    ax.set_xlabel("k (passages or documents retrieved)")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("Recall at k")
    fig.tight_layout()
    fig.savefig(path)


def _plot_latency(path: Path, runs: Sequence[ModeRun]) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    for run in runs:
        ax.hist([s * 1000 for s in run.latencies], bins=40, alpha=0.55, label=run.mode)
    ax.set_xlabel("query latency (ms)")
    ax.set_ylabel("questions")
    ax.legend()
    ax.set_title("Query latency")
    fig.tight_layout()
    fig.savefig(path)
