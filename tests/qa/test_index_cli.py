"""`groundqa index` on real folders, as a subprocess with the real model: bad files skipped with a
reason, updates, one writer at a time, and `kill -9` never costing the previous index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, write

pytestmark = pytest.mark.slow

GOOD = {"ferry.txt": "The Tallow Creek ferry carries forty cars. It was painted blue in 2024.",
        "bees.md": "# Bees\n\nThe club keeps twelve hives on the allotment behind the library."}


def groundqa(*args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("GROUNDQA_INDEX", None)
    return subprocess.run([sys.executable, "-m", "ui.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300, **kwargs)


def _folder(tmp_path):
    docs = tmp_path / "docs"
    for name, text in GOOD.items():
        write(docs / name, text)
    return docs


def _killed_after(delay: float, *args) -> None:
    """`groundqa ARGS...` started, then killed with SIGKILL after `delay` seconds (if still running)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    p = subprocess.Popen([sys.executable, "-m", "ui.cli", *map(str, args)], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()


def _listed(index):
    r = groundqa("show", "--list", "--json", "--index", index)
    assert r.returncode == 0, r.stderr
    return sorted(d["doc_id"] for d in json.loads(r.stdout))


def test_bad_files_are_skipped_each_with_its_reason(tmp_path):
    docs = _folder(tmp_path)
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(os.urandom(4096) + b"\0")
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage\n")
    (docs / "big.txt").write_text("word " * 300_000)
    (docs / "notes.docx").write_bytes(b"PK\x03\x04")
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    r = groundqa("index", docs, "--index", tmp_path / "idx", "--max-file-mb", 1)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "EOF marker" not in r.stderr and "Token indices" not in r.stderr
    reasons = {line.split(": ", 2)[1].rsplit("/", 1)[-1]: line.split(": ", 2)[2]
               for line in r.stderr.splitlines() if line.startswith("groundqa: skipped ")}
    assert reasons == {"empty.txt": "empty file", "binary.txt": "binary content, not txt",
                       "corrupt.pdf": reasons.get("corrupt.pdf", "?"), "big.txt": "too large (1.5 MB; the limit is 1 MB)",
                       "notes.docx": reasons.get("notes.docx", "?")}
    assert reasons["corrupt.pdf"].startswith("corrupt PDF") and "unsupported file type '.docx'" in reasons["notes.docx"]
    assert r.stdout.startswith("indexed 2 documents as ") and "skipped 5" in r.stdout
    assert _listed(tmp_path / "idx") == ["bees.md", "ferry.txt"]
    strict = groundqa("index", docs, "--index", tmp_path / "idx2", "--max-file-mb", 1, "--strict")
    assert strict.returncode == 1 and "--strict" in strict.stderr.strip().splitlines()[-1]


def test_reindex_picks_up_changes_and_an_unchanged_folder_loads_no_model(tmp_path):
    docs = _folder(tmp_path)
    index = tmp_path / "idx"
    assert groundqa("index", docs, "--index", index).returncode == 0
    write(docs / "late.txt", "Otters came back to the creek in 2019.")
    (docs / "bees.md").unlink()
    write(docs / "ferry.txt", "The Tallow Creek ferry carries forty cars. It was painted green in 2025.")
    r = groundqa("index", docs, "--index", index)
    assert r.returncode == 0 and r.stdout.startswith("updated: 1 added, 1 changed, 1 removed, 0 unchanged")
    assert _listed(index) == ["ferry.txt", "late.txt"]
    answer = json.loads(groundqa("ask", "What colour was the ferry painted?", "--json", "--index", index).stdout)
    assert "green" in answer["quotes"][0]["text"]
    probe = ("import sys\nfrom ui.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
             "except SystemExit as exc:\n    code = exc.code\n"
             "print(sorted(m for m in ('torch', 'onnxruntime', 'sentence_transformers', 'gradio') if m in sys.modules))\n"
             "sys.exit(code)")
    for args in (["index", docs, "--index", index], ["show", "--list", "--index", index], ["--help"]):
        r = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
        assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "[]", (args, r.stdout, r.stderr)
    assert "up to date" in groundqa("index", docs, "--index", index).stdout


def test_a_second_writer_waits_or_refuses(tmp_path):
    from embeddings.lock import writer_lock

    docs = _folder(tmp_path)
    index = tmp_path / "idx"
    with writer_lock(index):
        r = groundqa("index", docs, "--index", index, "--no-wait")
        assert r.returncode == 1 and "another groundqa process is writing" in r.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "ui.cli", "index", str(docs), "--index", str(index)],
                                   cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0 and "waiting for it to finish" in err and out.startswith("indexed 2 documents")


def test_kill_9_while_indexing_leaves_the_previous_index_answering(tmp_path):
    docs = _folder(tmp_path)
    for i in range(40):  # enough text that a rebuild takes a few seconds
        write(docs / f"filler/{i}.txt", " ".join(f"Filler sentence {i}-{j} about nothing in particular."
                                                 for j in range(60)))
    index = tmp_path / "idx"
    assert groundqa("index", docs, "--index", index).returncode == 0
    question = ("ask", "What colour was the ferry painted?", "--json", "--index", index)
    before = json.loads(groundqa(*question).stdout)["quotes"][0]
    for delay in (0.5, 2.0, 4.0, 6.0):
        _killed_after(delay, "index", docs, "--rebuild", "--index", index)
        after = groundqa(*question)
        assert after.returncode == 0, after.stderr
        assert json.loads(after.stdout)["quotes"][0] == before
    assert groundqa("index", docs, "--index", index).returncode == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx.")] == [".idx.lock"]  # leftovers cleaned


def test_kill_9_during_an_update_leaves_the_last_commit_answering_and_is_cleaned_up(tmp_path):
    docs = _folder(tmp_path)
    index = tmp_path / "idx"
    assert groundqa("index", docs, "--index", index).returncode == 0
    question = ("ask", "What colour was the ferry painted?", "--json", "--index", index)
    before = json.loads(groundqa(*question).stdout)["quotes"][0]
    for i in range(40):  # enough new text that the update takes a few seconds
        write(docs / f"later/{i}.txt", " ".join(f"Later sentence {i}-{j} about nothing in particular."
                                                for j in range(60)))
    seen = []
    for delay in (0.5, 1.0, 1.5):
        _killed_after(delay, "index", docs, "--index", index)
        after = groundqa(*question)
        assert after.returncode == 0, after.stderr
        seen.append(json.loads(after.stdout)["quotes"][0])
    done = groundqa("index", docs, "--index", index)
    assert done.returncode == 0, done.stderr
    assert len(_listed(index)) == 42
    final = json.loads(groundqa(*question).stdout)["quotes"][0]
    assert all(quote in (before, final) for quote in seen)  # the commit before, or the one after: never half
    listed = {s["name"] for s in json.loads((index / "manifest.json").read_text())["segments"]}
    assert {p.name for p in (index / "segments").iterdir()} == listed  # what the killed writers left is gone


def test_optimize_alone_merges_the_segments_and_answers_the_same(tmp_path):
    docs = _folder(tmp_path)
    index = tmp_path / "idx"
    assert groundqa("index", docs, "--index", index).returncode == 0
    write(docs / "otters.txt", "Otters came back to the creek in 2019.")
    assert groundqa("index", docs, "--index", index).returncode == 0
    question = ("ask", "When did the otters come back?", "--json", "--index", index)
    before = json.loads(groundqa(*question).stdout)["quotes"][0]
    assert len(list((index / "segments").iterdir())) == 2
    done = groundqa("index", "--optimize", "--index", index)
    assert done.returncode == 0 and done.stdout.startswith("optimized: 2 segments merged into 1; 3 documents"), done
    assert len(list((index / "segments").iterdir())) == 1
    assert json.loads(groundqa(*question).stdout)["quotes"][0] == before
    bare = groundqa("index", "--index", index)
    assert bare.returncode == 1 and "give the files or folders to index" in bare.stderr
    nothing = groundqa("index", "--optimize", "--index", tmp_path / "none")
    assert nothing.returncode == 1 and "no index at" in nothing.stderr and "Traceback" not in nothing.stderr
