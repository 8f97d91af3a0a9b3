"""Scale: build an index of N chunks, then search and ask it as a served index would.

The index goes through the real `groundqa index` engine (reading, chunking, segments, BM25,
the approximate vector index `--index-type` chooses). Its texts are generated (sentences drawn
from SciFact abstracts, or from the sample corpus when ../shared is absent); its vectors are
derived from real all-MiniLM-L6-v2 vectors of real texts with small noise (`DerivedEncoder`),
since encoding a million chunks here would take days. Queries are real questions (SciFact's
claims, or the project's question sets) encoded by the real model.

A fresh process then opens the index (the real model for questions), runs dense searches of the
query vectors (p50/p95, and recall@10 against an exact scan of every chunk vector; then the same
searches again), hybrid `ask`s with the reader, and reports its peak resident memory. Whether the
index's files are in the OS page cache decides much of a large index's latency: `--cold` empties
it first (Linux, root), so that runs compare. On a shared virtual machine one process's
figures wander (a hybrid ask's p50 by +-10 ms from run to run here): `--runs N` measures in N
processes one after another and reports each figure's median over them. One JSON line on stdout:

    chunks, index_type, build_s, search_p50_ms, search_p95_ms, search_again_p50_ms, page_cache,
    recall_at_10, ask_p50_ms, rss_mb, disk_mb (and with --runs, runs and each run's p50s)

    .venv/bin/python benchmarks/scale.py --chunks 200000
    .venv/bin/python benchmarks/scale.py --chunks 1000000 --cold --runs 3 --out benchmarks/results/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from index_memory import generate  # noqa: E402
from standin_encoder import StandinEncoder  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
BYTES_PER_CHUNK = 880  # generated text per chunk, as the stand-in counts tokens (measured: ~841)
NOISE = 0.01  # per dimension, on unit vectors (a noise vector of length ~0.2)
BASE_TEXTS = 2000

BUILD = r"""
import sys, time
import numpy as np
sys.path[:0] = [{root!r}, {bench!r}]
from scale import DerivedEncoder
from qa.updating import index_paths
start = time.perf_counter()
index_paths([sys.argv[1]], index_dir=sys.argv[2], encoder=DerivedEncoder(np.load(sys.argv[3])),
            index_type=sys.argv[4], store=sys.argv[5], show_progress=False)
print(time.perf_counter() - start)
"""

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from embeddings.backends import load_encoder
from qa import KnowledgeBase
queries = np.load(sys.argv[2])
questions = json.loads(open(sys.argv[3]).read())
kb = KnowledgeBase.open(sys.argv[1], encoder=load_encoder())
search, found = [], []
for q in queries:
    start = time.perf_counter()
    passages = kb.search_by_vector(q, 10)
    search.append(time.perf_counter() - start)
    found.append([(p.doc_id, p.chunk) for p in passages])
again = []  # the same searches once more: their rows now read once (the page cache's best case)
for q in queries:
    start = time.perf_counter()
    kb.search_by_vector(q, 10)
    again.append(time.perf_counter() - start)
kb.ask(questions[0])  # the reader and the query encoder load once, as in a running chat
ask = []
for question in questions:
    start = time.perf_counter()
    kb.ask(question)
    ask.append(time.perf_counter() - start)
# VmHWM, this process's own peak: ru_maxrss would carry the parent's from before the exec.
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"search": search, "again": again, "found": found, "ask": ask, "rss_mb": peak / 1024}}))
"""


class DerivedEncoder(StandinEncoder):
    """The stand-in encoder with vectors derived from real ones: a text's vector mixes two of
    `base` (real MiniLM vectors, weights 0.7 and 0.3) and adds Gaussian noise, all picked by a
    hash of the text (deterministic). Mixing spreads a million vectors over the region real text
    occupies, instead of stacking a hundred near-copies on each of a few thousand points."""

    def __init__(self, base: np.ndarray, noise: float = NOISE) -> None:
        super().__init__()
        self._table = base.astype(np.float32)
        self._noise = (noise * np.random.default_rng(1).standard_normal((8191, base.shape[1]))).astype(np.float32)

    def encode(self, texts, *, show_progress: bool = False) -> np.ndarray:
        hashes = np.array([zlib.crc32(t.encode("utf-8", "replace")) for t in texts], dtype=np.int64)
        n = len(self._table)
        out = (0.7 * self._table[hashes % n] + 0.3 * self._table[(hashes // n) % n]
               + self._noise[(hashes // (n * n)) % len(self._noise)])
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def material() -> tuple[list[str], list[str], list[str]]:
    """(texts whose real vectors seed the index, sentences for the generated files, questions)."""
    if (SCIFACT / "corpus.jsonl").is_file():
        rows = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl", encoding="utf-8")]
        texts = [f"{r['title']}\n{r['text']}" for r in rows]
        sentences = [s for r in rows[:3000] for s in re.split(r"(?<=[.!?])\s+", r["text"]) if len(s) > 40]
        questions = [json.loads(line)["text"] for line in open(SCIFACT / "queries.jsonl", encoding="utf-8")]
        return texts, sentences, questions
    from corpus import load_documents, split_sentences

    docs = load_documents([ROOT / "corpus" / "samples"])
    sentences = [d.text[a:b] for d in docs for a, b in split_sentences(d.text) if b - a > 40]
    questions = [json.loads(line)["question"] for name in ("sample_questions", "seed_questions", "seed_reworded")
                 for line in open(ROOT / "tests" / "data" / f"{name}.jsonl", encoding="utf-8") if line.strip()]
    return sentences, sentences, questions


def benchmark_questions(questions: list[str], n: int) -> list[str]:
    """The questions the benchmark asks: `n` drawn at random with a fixed seed."""
    return random.Random(0).sample(questions, min(len(questions), n))


def dev_claims(n: int = 300) -> list[str]:
    """SciFact's claims that a run asking `n` questions never asks, for choosing settings."""
    _, _, questions = material()
    asked = set(benchmark_questions(questions, n))
    return [q for q in questions if q not in asked]


def build(work: Path, args, sentences: list[str], base: np.ndarray) -> float:
    """Generate the files and index them in a process of its own (Milvus Lite lets one process at a
    time open its file); the build's seconds, also kept in the work folder for `--reuse`."""
    generate(work / "files", args.chunks * BYTES_PER_CHUNK / 1e6, 1.0, sentences)
    np.save(work / "base.npy", base)
    built = subprocess.run([sys.executable, "-c", BUILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks")),
                            str(work / "files"), str(work / "index"), str(work / "base.npy"), args.index_type,
                            args.store], capture_output=True, text=True, cwd=ROOT)
    if built.returncode != 0:
        sys.exit(f"the build failed:\n{built.stderr[-3000:]}")
    build_s = float(built.stdout.strip().splitlines()[-1])
    (work / "build_s.txt").write_text(str(build_s))
    return build_s


def exact_top(index_dir: Path, queries: np.ndarray, k: int) -> list[set]:
    """Each query's k nearest chunks by an exact scan of every chunk vector, as (doc_id, chunk) keys."""
    from embeddings.index_folder import read_manifest
    from embeddings.segments import read_segment

    manifest = read_manifest(index_dir)
    keys, scores = [], []
    for segment in manifest["segments"]:
        data = read_segment(index_dir, segment)
        keys.extend((c.doc_id, c.index) for c in data.chunks)
        scores.append(np.asarray(data.chunk_vectors, dtype=np.float32) @ queries.T)
    scores = np.vstack(scores)
    return [{keys[i] for i in np.argsort(-scores[:, j], kind="stable")[:k]} for j in range(len(queries))]


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to index (default 100,000)")
    parser.add_argument("--index-type", default="auto", help="flat, hnsw, ivfpq or auto (default)")
    parser.add_argument("--store", default="faiss", help="faiss (default), milvus-lite:PATH or milvus://HOST:PORT/COLLECTION")
    parser.add_argument("--queries", type=int, default=300, help="dense searches timed (default 300)")
    parser.add_argument("--asks", type=int, default=50, help="hybrid asks timed (default 50)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the files and the index (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --work: measure the index an earlier run built there again (same build time), "
                             "e.g. after a change to searching that leaves the index format as it was")
    parser.add_argument("--cold", action="store_true",
                        help="empty the OS page cache before the measuring process opens the index (Linux, root): "
                             "every search's rows then come from disk at first, as after a restart")
    parser.add_argument("--runs", type=int, default=1,
                        help="measuring processes, one after another (each after emptying the cache with --cold); "
                             "each figure is the median of theirs, the ask p50 of each is listed (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="also add the row to this JSON file (and a .md beside it)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from embeddings.backends import load_encoder

    work = args.work or Path(tempfile.mkdtemp(prefix="groundqa-scale-"))
    try:
        texts, sentences, questions = material()
        encoder = load_encoder()
        base = encoder.encode([t[:1000] for t in texts[:BASE_TEXTS]])
        picked = benchmark_questions(questions, max(args.queries, args.asks))
        queries = np.vstack([encoder.encode_query(q) for q in picked[:args.queries]]).astype(np.float32)
        del encoder

        if args.reuse and (work / "build_s.txt").is_file():
            build_s = float((work / "build_s.txt").read_text())
        else:
            build_s = build(work, args, sentences, base)

        from embeddings.index_folder import read_manifest

        manifest = read_manifest(work / "index")
        np.save(work / "queries.npy", queries)
        (work / "questions.json").write_text(json.dumps(picked[:args.asks]), encoding="utf-8")
        runs = [measure(work, args.cold) for _ in range(max(1, args.runs))]
        measured = runs[0]
        truth = exact_top(work / "index", queries, 10)
        recall = np.mean([len({tuple(x) for x in found} & true) / 10 for found, true in zip(measured["found"], truth)])

        def median(key: str, q: float) -> float:  # of the runs' percentiles, in ms
            return float(np.median([np.percentile(np.array(run[key]) * 1000, q) for run in runs]))

        row = {"chunks": manifest["counts"]["chunks"],
               "index_type": (manifest["store"].get("index_type", "auto") + " (milvus)"
                              if manifest.get("store", {}).get("kind") == "milvus"
                              else manifest.get("vector_index", {}).get("type", "flat")),
               "build_s": round(build_s, 1),
               "search_p50_ms": round(median("search", 50), 3),
               "search_p95_ms": round(median("search", 95), 3),
               "search_again_p50_ms": round(median("again", 50), 3),
               "page_cache": "emptied" if args.cold else "as found",
               "recall_at_10": round(float(recall), 4),
               "ask_p50_ms": round(median("ask", 50), 1),
               "rss_mb": round(max(run["rss_mb"] for run in runs)), "disk_mb": round(disk_mb(work / "index"))}
        if len(runs) > 1:
            row["runs"] = len(runs)
            row["ask_p50_ms_each"] = [round(float(np.percentile(np.array(run["ask"]) * 1000, 50)), 1) for run in runs]
            row["search_p50_ms_each"] = [round(float(np.percentile(np.array(run["search"]) * 1000, 50)), 3)
                                         for run in runs]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(row))
    if args.out:
        write_results(args.out, row, args)
    return 0


def measure(work: Path, cold: bool, root: Path = ROOT) -> dict:
    """One measuring process (CHILD) of the code at `root` over the index in `work`: its timings,
    results and peak memory."""
    if cold:
        empty_page_cache()
    child = subprocess.run([sys.executable, "-c", CHILD.format(root=str(root)), str(work / "index"),
                            str(work / "queries.npy"), str(work / "questions.json")],
                           capture_output=True, text=True, cwd=root)
    if child.returncode != 0:
        sys.exit(f"the search process of {root} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def empty_page_cache() -> None:
    """Write dirty pages out, then drop the page cache (what `echo 3 > /proc/sys/vm/drop_caches` does)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        sys.exit(f"--cold needs Linux and root to empty the page cache ({exc.strerror})")


def write_results(path: Path, row: dict, args) -> None:
    """Add `row` to the JSON results at `path` (one row per chunk count and type) and rewrite the table beside it."""
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"rows": []}
    rows = [r for r in old["rows"] if (r["chunks"] // 1000, r["index_type"]) != (row["chunks"] // 1000, row["index_type"])]
    rows = sorted(rows + [{**row, "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "command": f"benchmarks/scale.py --chunks {args.chunks} --index-type {args.index_type}"
                                      + (f" --store {args.store}" if args.store != "faiss" else "")
                                      + (" --cold" if args.cold else "")
                                      + (f" --runs {args.runs}" if args.runs > 1 else "")}],
                  key=lambda r: (r["chunks"], r["index_type"]))
    data = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "vectors": f"0.7 x one + 0.3 x another of the real all-MiniLM-L6-v2 vectors of {BASE_TEXTS} SciFact "
                       f"abstracts, + N(0, {NOISE}^2) noise per dimension, normalized",
            "rows": rows}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    columns = ["chunks", "index_type", "build_s", "search_p50_ms", "search_p95_ms", "search_again_p50_ms",
               "recall_at_10", "ask_p50_ms", "rss_mb", "disk_mb", "page_cache"]
    lines = ["# Scale (benchmarks/scale.py)", "", f"Machine: {data['machine']}. Vectors: {data['vectors']}.",
             "Search: dense, one query vector at a time, k=10, in a fresh process with the index open; "
             "recall against an exact scan; again: the same searches a second time. ask: hybrid, with the "
             "reader. rss: that process's peak. page_cache: emptied before that process started (--cold), or "
             "as earlier work left it.", "",
             "| " + " | ".join(columns) + " | command |", "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + f" | `{r['command']}` |" for r in rows]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
