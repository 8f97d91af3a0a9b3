"""Peak memory of indexing as the text grows: does `groundqa index` stream?

Generates folders of text files (sentences drawn, with a fixed seed, from SciFact abstracts, in
paragraphs, `--file-mb` per file) and indexes each in a fresh process, reporting its peak resident
memory (ru_maxrss) and time:

- at each size of `--mb`, with the stand-in encoder (benchmarks/standin_encoder.py: the real model's
  shape, no model run), since encoding 1 GB of text with the real model would take a day on two
  cores; this measures what the engine holds (documents, chunks, vectors, counts, manifest);
- at `--real-mb`, the whole `groundqa index` command with the real int8 model, for what the model
  and its runtime add.

The target: 1 GB of text indexed under 2 GB peak RSS. Writes benchmarks/results/index_memory.{json,md}.

    .venv/bin/python benchmarks/index_memory.py                       # 100 MB and 1 GB, real 8 MB
    .venv/bin/python benchmarks/index_memory.py --mb 20 --real-mb 2   # a quick look
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
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
OUT = ROOT / "benchmarks" / "results"
PEAK = "import resource; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
STANDIN = """
import sys
sys.path[:0] = [{root!r}, {bench!r}]
from standin_encoder import StandinEncoder
from qa.updating import index_paths
report = index_paths([sys.argv[1]], index_dir=sys.argv[2], encoder=StandinEncoder(), show_progress=False)
print(report.counts["chunks"])
"""


def generate(folder: Path, megabytes: float, file_mb: float, sentences: list[str], seed: int = 0) -> None:
    """Files of paragraphs of sentences drawn from `sentences`, `megabytes` in all."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    total, i = 0, 0
    while total < megabytes * 1e6:
        parts, size = [], 0
        while size < file_mb * 1e6:
            paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 8)))
            parts.append(paragraph)
            size += len(paragraph) + 2
        text = "\n\n".join(parts) + "\n"
        (folder / f"part{i:05d}.txt").write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
        i += 1


def peak_of(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of `command` run as a child of a fresh process."""
    wrapper = f"import subprocess, sys; done = subprocess.run({command!r}, capture_output=True, text=True); " \
              f"sys.stderr.write(done.stderr); print(done.stdout.strip()); print(done.returncode); {PEAK}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    lines = out.stdout.strip().splitlines()
    if len(lines) < 3 or lines[-2] != "0":
        sys.exit(f"failed: {' '.join(command)}\n{out.stdout}{out.stderr[-2000:]}")
    return seconds, int(lines[-1]) / 1024, "\n".join(lines[:-2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, nargs="+", default=[100, 1000], help="text sizes, stand-in encoder")
    parser.add_argument("--real-mb", type=float, default=8, help="text size for the real model (0: skip)")
    parser.add_argument("--file-mb", type=float, default=1.0, help="size of each generated file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"SciFact not found at {DATA}: nothing to measure")
        return 0
    sentences = [s for line in open(DATA, encoding="utf-8")
                 for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 20]
    work = Path(tempfile.mkdtemp(prefix="groundqa-memory-"))
    rows = []
    try:
        runs = [(mb, "stand-in") for mb in args.mb] + ([(args.real_mb, "int8 ONNX (real)")] if args.real_mb else [])
        for mb, encoder in runs:
            folder, index = work / f"docs-{mb}", work / f"idx-{mb}"
            generate(folder, mb, min(args.file_mb, mb), sentences)
            if encoder == "stand-in":
                command = [sys.executable, "-c", STANDIN.format(root=str(ROOT), bench=str(ROOT / "benchmarks")),
                           str(folder), str(index)]
            else:
                command = [sys.executable, "-m", "ui.cli", "index", str(folder), "--index", str(index), "--quiet"]
            seconds, peak, out = peak_of(command)
            manifest = json.loads((index / "manifest.json").read_text())
            disk = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
            rows.append({"text_mb": mb, "encoder": encoder, "files": len(list(folder.iterdir())),
                         "chunks": manifest["counts"]["chunks"], "sentences": manifest["counts"]["sentences"],
                         "segments": len(manifest["segments"]), "seconds": round(seconds, 1),
                         "peak_rss_mb": round(peak), "index_disk_mb": round(disk / 1e6)})
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(folder)
            shutil.rmtree(index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "benchmarks/index_memory.py " + " ".join(sys.argv[1:]), "rows": rows,
              "target": "1 GB of text indexed under 2 GB peak RSS"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Peak memory of indexing as the text grows", "",
             f"Measured {result['measured']} on {result['machine']}; every row in the same run "
             f"(`{result['command'].strip()}`), each a fresh process.", "",
             "| text | encoder | files | chunks | sentences | segments | time | peak RSS | index on disk |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['text_mb']:g} MB | {r['encoder']} | {r['files']:,} | {r['chunks']:,} | {r['sentences']:,} | "
                     f"{r['segments']} | {r['seconds']:.0f} s | {r['peak_rss_mb']:,} MB | {r['index_disk_mb']:,} MB |")
    lines += ["", "Documents are read, chunked, encoded and written as a segment 4 million characters at a time "
              "(`embeddings.indexer.BATCH_CHARS`); only the file table and the segments' records stay in memory "
              "between batches. Every 10 adjacent new segments of one size tier are merged as they come, up to "
              "100,000 chunks (`embeddings.segments.MERGE_FACTOR`, `MAX_MERGED_CHUNKS`): a merge holds the "
              "documents, chunks and term counts of what it merges, and copies vectors file to file. The stand-in "
              "rows hold no model; the real row adds the int8 model and onnxruntime's buffers."]
    (args.out / "index_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
