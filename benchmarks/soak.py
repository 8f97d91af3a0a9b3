"""Soak: many people asking at once while documents are uploaded, against a real `groundqa serve`.

Starts `groundqa serve` (its own process, on loopback) over a copy of an index, then for
`--seconds` runs `--clients` threads that each ask the `/ask` endpoint through gradio_client,
one question after another, while one more thread uploads a new small document through
`/upload` every `--upload-every` seconds. It samples the server's resident memory every half
second. One JSON line on stdout:

    clients, seconds, asks, errors, uploads, upload_errors, ask_p50_ms, ask_p95_ms,
    rss_start_mb (after warm-up), rss_peak_mb, rss_end_mb, rss_growth_mb (second half)

Errors are failed calls, answers with an "error" key, or answers without quotes. Exits 1 on any.

    .venv/bin/python benchmarks/soak.py --index .groundqa --clients 8 --seconds 120
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "sample_questions.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def wait_for(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer at {url} within {timeout:.0f} s")


def soak(index: Path, *, clients: int, seconds: float, upload_every: float, work: Path) -> dict:
    """Run the soak against a server over a copy of `index` in `work`; the measured row."""
    from gradio_client import Client, handle_file

    shutil.copytree(index, work / "index")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(work / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--index", str(work / "index"),
                               "--port", str(port)], cwd=work, env={**env, "GROUNDQA_DEBUG": "1"},
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    questions = [json.loads(line)["question"] for line in open(QUESTIONS, encoding="utf-8") if line.strip()]
    try:
        wait_for(url, server)
        warm = Client(url, verbose=False)
        warm.predict(questions[0], api_name="/ask")  # the reader and the encoder load once
        rss_start = rss_mb(server.pid)
        stop = time.monotonic() + seconds
        latencies: list[float] = []
        errors: list[str] = []
        uploads = {"done": 0, "errors": 0}
        samples: list[tuple[float, float]] = []
        lock = threading.Lock()

        def asker(n: int) -> None:
            client = Client(url, verbose=False)
            i = n
            while time.monotonic() < stop:
                question = questions[i % len(questions)]
                i += clients
                start = time.perf_counter()
                try:
                    out = client.predict(question, api_name="/ask")
                    problem = out.get("error") if isinstance(out, dict) else "not JSON"
                    if problem is None and not out.get("quotes"):
                        problem = "no quotes"
                except Exception as exc:  # noqa: BLE001 - every failure counts, whatever its kind
                    problem = f"{type(exc).__name__}: {exc}"
                with lock:
                    latencies.append(time.perf_counter() - start)
                    if problem:
                        errors.append(f"{question}: {problem}")

        def uploader() -> None:
            client = Client(url, verbose=False)
            n = 0
            while time.monotonic() < stop - upload_every / 2:
                time.sleep(upload_every)
                n += 1
                path = work / f"soak-note-{n}.md"
                path.write_text(f"# Soak note {n}\n\nThe soak test's note number {n} says the ferry left at "
                                f"{6 + n % 12} o'clock on day {n}.\n", encoding="utf-8")
                try:
                    out = client.predict([handle_file(str(path))], api_name="/upload")
                    ok = isinstance(out, dict) and f"uploads/{path.name}" in out.get("added", [])
                except Exception:  # noqa: BLE001
                    ok = False
                uploads["done" if ok else "errors"] += 1

        def sampler() -> None:
            begun = time.monotonic()
            while time.monotonic() < stop:
                samples.append((time.monotonic() - begun, rss_mb(server.pid)))
                time.sleep(0.5)

        threads = [threading.Thread(target=asker, args=(n,)) for n in range(clients)]
        threads += [threading.Thread(target=uploader), threading.Thread(target=sampler)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rss_end = rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    ms = np.array(latencies) * 1000
    half = [r for t, r in samples if t >= seconds / 2]
    return {"clients": clients, "seconds": seconds, "asks": len(latencies), "errors": len(errors),
            "uploads": uploads["done"], "upload_errors": uploads["errors"],
            "ask_p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "ask_p95_ms": round(float(np.percentile(ms, 95)), 1) if len(ms) else None,
            "rss_start_mb": round(rss_start), "rss_peak_mb": round(max([r for _, r in samples] + [rss_end])),
            "rss_end_mb": round(rss_end), "rss_growth_mb": round(max(half) - min(half)) if half else 0,
            "first_errors": errors[:3],
            "server_log_tail": (work / "server.log").read_text(errors="replace")[-3000:] if errors else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / ".groundqa", help="index to serve (copied; default .groundqa)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent askers (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they ask (default 60)")
    parser.add_argument("--upload-every", type=float, default=5, help="seconds between uploads (default 5)")
    parser.add_argument("--out", type=Path, default=None, help="also write the row to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="groundqa-soak-") as work:
        row = soak(args.index, clients=args.clients, seconds=args.seconds, upload_every=args.upload_every,
                   work=Path(work))
    print(json.dumps(row))
    if args.out:
        args.out.write_text(json.dumps({**row, "command": f"benchmarks/soak.py --clients {args.clients} "
                                        f"--seconds {args.seconds:g} --upload-every {args.upload_every:g}"},
                                       indent=1) + "\n", encoding="utf-8")
    return 0 if row["errors"] == 0 and row["upload_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
