"""A/B: the scale benchmark's measuring process for an earlier commit and for this tree, in turns.

The machines we measure on are shared VMs whose speed wanders by a quarter from one minute to the
next, so one run of `scale.py` says as much about the machine as about the code. Here each round
runs the measuring process of `scale.py` (300 dense searches, the same again, 50 hybrid asks) once
for the commit `--base` (checked out in a temporary git worktree) and once for this tree, one right
after the other on the same index, in alternating order, the page cache emptied before each with
`--cold`. It prints a table of the rounds, then each side's medians and the median of the rounds'
ratios (this tree / base): the ratio is what the comparison rests on.

    .venv/bin/python benchmarks/scale.py --chunks 1000000 --work /tmp/s1m --cold
    .venv/bin/python benchmarks/ask_ab.py --base 2acf064 --work /tmp/s1m --rounds 4 --cold \\
        --out benchmarks/results/ask_ab.json

The index in `--work` must be one both versions read (the same index format). When the change is
in how an index is built, `--base-work` names a folder where the base commit's `scale.py` built
the same corpus: each side then reads the index its own code built.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import measure  # noqa: E402

FIGURES = (("ask", 50, "ask_p50_ms"), ("search", 50, "search_p50_ms"), ("again", 50, "search_again_p50_ms"))


def p50s(root: Path, work: Path, cold: bool) -> dict:
    """One measuring process of the code at `root` over the index in `work`: its p50s in ms."""
    measured = measure(work, cold, root)
    return {name: round(float(np.percentile(np.array(measured[key]) * 1000, q)), 3) for key, q, name in FIGURES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. the last release)")
    parser.add_argument("--work", type=Path, required=True,
                        help="a folder where benchmarks/scale.py built an index (index/, queries.npy, questions.json)")
    parser.add_argument("--base-work", type=Path, default=None,
                        help="the base commit's own index of the same corpus (default: the one in --work)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of one run each (default 4)")
    parser.add_argument("--cold", action="store_true", help="empty the page cache before every run (Linux, root)")
    parser.add_argument("--out", type=Path, default=None, help="also write the rounds and medians to this JSON file")
    args = parser.parse_args()
    base_work = args.base_work or args.work
    for work in {args.work, base_work}:
        for name in ("index", "queries.npy", "questions.json"):
            if not (work / name).exists():
                sys.exit(f"{work / name} is missing: build it first with benchmarks/scale.py --work {work}")
    commit = subprocess.run(["git", "rev-parse", "--short", args.base], capture_output=True, text=True, cwd=ROOT)
    if commit.returncode != 0:
        sys.exit(f"unknown commit {args.base!r}")
    base_sha = commit.stdout.strip()
    where = Path(tempfile.mkdtemp(prefix="groundqa-ab-"))
    checkout = where / "base"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(checkout), base_sha], check=True, cwd=ROOT)
    rounds = []
    try:
        for i in range(args.rounds):
            sides = [("base", checkout, base_work), ("tree", ROOT, args.work)]
            result = {}
            for side, root, work in sides if i % 2 == 0 else sides[::-1]:
                result[side] = p50s(root, work, args.cold)
            rounds.append(result)
            print(f"round {i + 1}: ask p50 base {result['base']['ask_p50_ms']:.1f} ms, "
                  f"tree {result['tree']['ask_p50_ms']:.1f} ms", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT)
        shutil.rmtree(where, ignore_errors=True)
    summary = {}
    print(f"\n| figure | base {base_sha} (median) | this tree (median) | tree / base (median of rounds) |")
    print("|---|---:|---:|---:|")
    for _, _, name in FIGURES:
        base = [r["base"][name] for r in rounds]
        tree = [r["tree"][name] for r in rounds]
        ratio = float(np.median([t / b for t, b in zip(tree, base)]))
        summary[name] = {"base": float(np.median(base)), "tree": float(np.median(tree)), "ratio": round(ratio, 3)}
        print(f"| {name} | {np.median(base):.2f} | {np.median(tree):.2f} | {ratio:.3f} |")
    if args.out:
        tree_sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                  cwd=ROOT).stdout.strip()
        args.out.write_text(json.dumps({
            "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "base": base_sha,
            "tree": f"{tree_sha} + working tree", "index": str(args.work / "index"),
            "base_index": str(base_work / "index"), "cold": args.cold,
            "command": f"benchmarks/ask_ab.py --base {base_sha} --rounds {args.rounds}" + (" --cold" if args.cold else "")
                       + (" --base-work DIR" if args.base_work else ""),
            "rounds": rounds, "median": summary}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
