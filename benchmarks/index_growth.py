"""What an update costs as the index grows: one file added to a ~10k-chunk and to a ~100k-chunk index.

Each index is a folder of SciFact abstracts (repeated in sub-folders to reach the size) built with
the stand-in encoder (benchmarks/standin_encoder.py: real model's name and shape, no model run),
since encoding 100k chunks here would take most of an hour and the cost of encoding the added file
does not depend on the index. Then, on each, timed in one run (median of `--repeats`):

- `groundqa index NEW_FILE`, one new file given by its path, as a whole process, cold: it loads
  the real int8 model and encodes that file for real (the index's other vectors stay the stand-in's);
- `groundqa index FOLDER` after one new file: the same, with the whole folder walked and compared;
- the first update in-process (`qa.updating.index_paths`, the model already loaded);
- a file deleted (the folder re-scanned), and an unchanged folder (in-process);
- opening the index (`KnowledgeBase.open`), which reads every segment and so grows with it.

The target: adding one file at ~100k chunks costs at most 2x what it costs at ~10k.
Writes benchmarks/results/index_growth.{json,md}.

    .venv/bin/python benchmarks/index_growth.py                      # ~10k and ~100k chunks, ~15 min
    .venv/bin/python benchmarks/index_growth.py --chunks 2000 20000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
DATA = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
OUT = ROOT / "benchmarks" / "results"
CHUNKS_PER_ABSTRACT = 1.95  # SciFact, as the stand-in counts tokens (the table gives the real count)


def write_folder(folder: Path, n_docs: int, abstracts: list[dict]) -> None:
    for i in range(n_docs):
        d = abstracts[i % len(abstracts)]
        sub = folder / f"copy{i // len(abstracts)}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n", encoding="utf-8")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(work: Path, target_chunks: int, abstracts: list[dict], real, repeats: int) -> dict:
    from qa import KnowledgeBase
    from qa.updating import index_paths
    from standin_encoder import StandinEncoder

    folder, index = work / f"docs-{target_chunks}", work / f"idx-{target_chunks}"
    write_folder(folder, int(target_chunks / CHUNKS_PER_ABSTRACT), abstracts)
    build_s = timed(lambda: index_paths([folder], index_dir=index, encoder=StandinEncoder(), show_progress=False))
    manifest = json.loads((index / "manifest.json").read_text())
    row = {"chunks": manifest["counts"]["chunks"], "documents": manifest["counts"]["documents"],
           "build_standin_s": round(build_s, 2)}
    new_text = "The Tallow Creek ferry carries 40 cars and was painted blue in {n}. It sails hourly in summer.\n"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def cli(path: Path) -> float:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ui.cli", "index", str(path), "--index", str(index), "--quiet"],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        seconds = time.perf_counter() - start
        if done.returncode != 0 or "1 added" not in done.stdout:
            sys.exit(f"the CLI update failed: {done.stdout}{done.stderr}")
        return seconds

    times: dict[str, list[float]] = {k: [] for k in ("file_cli", "folder_cli", "file", "delete", "unchanged", "open")}
    for r in range(repeats):
        extra = folder / f"new-file-{r}.txt"
        extra.write_text(new_text.format(n=2000 + r), encoding="utf-8")
        times["file_cli"].append(cli(extra))
        extra = folder / f"new-folder-{r}.txt"
        extra.write_text(new_text.format(n=3000 + r), encoding="utf-8")
        times["folder_cli"].append(cli(folder))
        extra = folder / f"new-{r}.txt"
        extra.write_text(new_text.format(n=4000 + r), encoding="utf-8")
        times["file"].append(timed(lambda: index_paths([extra], index_dir=index, encoder=real, show_progress=False)))
        extra.unlink()
        times["delete"].append(timed(lambda: index_paths([folder], index_dir=index, encoder=real, show_progress=False)))
        times["unchanged"].append(timed(lambda: index_paths([folder], index_dir=index, encoder=real,
                                                            show_progress=False)))
        times["open"].append(timed(lambda: KnowledgeBase.open(index, encoder=real)))
    manifest = json.loads((index / "manifest.json").read_text())
    row.update({f"{k}_s": round(statistics.median(v), 3) for k, v in times.items()})
    row["segments_after"] = len(manifest["segments"])
    shutil.rmtree(index)
    shutil.rmtree(folder)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs=2, default=[10_000, 100_000], metavar=("SMALL", "LARGE"),
                        help="index sizes to compare, in chunks (about; default 10000 100000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"SciFact not found at {DATA}: nothing to measure")
        return 0
    os.environ["HF_HUB_OFFLINE"] = "1"
    from embeddings.backends import load_encoder

    abstracts = [json.loads(line) for line in open(DATA, encoding="utf-8")]
    real = load_encoder()
    work = Path(tempfile.mkdtemp(prefix="groundqa-growth-"))
    try:
        rows = [measure(work, n, abstracts, real, args.repeats) for n in args.chunks]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small, large = rows
    names = {"file_cli_s": "`groundqa index NEW_FILE`: one file added (whole process, cold)",
             "folder_cli_s": "`groundqa index FOLDER`: the folder re-scanned, one file added (whole process, cold)",
             "file_s": "one file added (in-process, model loaded)",
             "delete_s": "one file deleted, the folder re-scanned (in-process)",
             "unchanged_s": "unchanged folder re-scanned (in-process)",
             "open_s": "`KnowledgeBase.open` (reads every segment)"}
    ratio = {k: round(large[k] / small[k], 2) for k in names}
    result = {"measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "benchmarks/index_growth.py " + " ".join(sys.argv[1:]), "rows": rows,
              "ratio_large_to_small": ratio,
              "target": "one file added (groundqa index NEW_FILE) at the large index <= 2x at the small"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index_growth.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Updating an index as it grows ({small['chunks']:,} vs {large['chunks']:,} chunks)", "",
             f"Measured {result['measured']} on {result['machine']}; every row in the same run "
             f"(`{result['command'].strip()}`), median of {args.repeats}.", "",
             "| step | " + " | ".join(f"{r['chunks']:,} chunks" for r in rows) + " | ratio |", "|---|---:|---:|---:|"]
    for key, name in names.items():
        lines.append(f"| {name} | {small[key]:.3f} s | {large[key]:.3f} s | {ratio[key]:.2f}x |")
    lines += ["", f"Documents: {small['documents']:,} and {large['documents']:,}; built with the stand-in encoder in "
              f"{small['build_standin_s']} s and {large['build_standin_s']} s; segments after the updates: "
              f"{small['segments_after']} and {large['segments_after']}.", "",
              "The indexes hold the stand-in's vectors (benchmarks/standin_encoder.py); the added files are "
              "encoded by the real int8 model. An update reads the manifest, encodes the new file and writes "
              "one segment; it opens no other segment. What grows with the index: reading and writing the "
              "manifest (one record per document and file); and, when a folder is given, walking it and "
              "comparing every file's size and time with the manifest's (as `git status` does)."]
    (args.out / "index_growth.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
