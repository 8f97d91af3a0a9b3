"""The vector store behind dense search: FAISS in the process, or a Milvus collection (Milvus Lite
here) kept equal to the index's live chunks through adds, changes, deletions, merges and crashes."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import FakeEncoder, write
from embeddings.errors import StoreError
from embeddings.index_folder import read_manifest
from embeddings.segments import index_store, live_counts, merge
from embeddings.vector_store import FAISS, MILVUS, store_record
from qa import KnowledgeBase
from qa.updating import index_paths

pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install milvus-lite)")

QUESTIONS = ["Which river floods in spring?", "Who keeps the bees?", "What colour is the ferry?",
             "When does the market open?", "Where do otters live?"]


def test_store_specs(tmp_path):
    assert store_record(None, tmp_path) == {"kind": FAISS}
    assert store_record("faiss", tmp_path) == {"kind": FAISS}
    lite = store_record("milvus-lite:kb.db", tmp_path / "a")
    assert lite["kind"] == MILVUS and lite["uri"].endswith("/kb.db") and lite["uri"].startswith("/")
    assert lite["collection"] != store_record("milvus-lite:kb.db", tmp_path / "b")["collection"]
    assert store_record("milvus://db.example:19531/team_docs", tmp_path) == {
        "kind": MILVUS, "uri": "http://db.example:19531", "collection": "team_docs"}
    assert store_record("milvus://db.example/docs", tmp_path)["uri"] == "http://db.example:19530"
    for bad in ("milvus-lite:", "milvus-lite:kb.txt", "milvus://host:1/bad-name", "pinecone", "milvus://host"):
        with pytest.raises(StoreError):
            store_record(bad, tmp_path)


def _folder(tmp_path):
    docs = tmp_path / "docs"
    write(docs / "river.txt", "The Tallow river floods every spring after the snow melts. Otters live by the creek.")
    write(docs / "bees.md", "# Bees\n\nMara keeps twelve hives of bees. Her honey sells at the market.")
    write(docs / "ferry.txt", "The ferry at Tallow Creek was painted blue. It carries forty cars.")
    write(docs / "market.txt", "The market opens at seven on Saturdays. It closes at noon.")
    return docs


def _results(kb):
    out = []
    for q in QUESTIONS:
        # every chunk (no cut inside a tie); results of equal score may come in either order
        out.append(sorted((-round(p.score, 4), p.doc_id, p.start, p.end) for p in kb.search(q, k=10, mode="dense")))
        out.append(sorted((-round(p.score, 4), p.doc_id, p.start, p.end) for p in kb.search(q, k=10)))
        a = kb.ask(q, reader=False)
        out.append((a.abstained, round(a.confidence, 3), [(x.doc_id, x.start, x.end) for x in a.quotes]))
    return out


def _both(tmp_path, step):
    """Run `step(index_dir, store)` on a FAISS and a Milvus Lite index; both opened."""
    kbs = []
    for name, store in (("faiss", "faiss"), ("milvus", f"milvus-lite:{tmp_path / 'kb.db'}")):
        step(tmp_path / name, store)
        kbs.append(KnowledgeBase.open(tmp_path / name, encoder=FakeEncoder()))
    return kbs


def test_milvus_lite_answers_as_faiss_through_updates(tmp_path):
    docs = _folder(tmp_path)
    enc = FakeEncoder()
    index = lambda folder, store: index_paths([docs], index_dir=folder, encoder=enc, store=store,  # noqa: E731
                                              show_progress=False)
    faiss_kb, milvus_kb = _both(tmp_path, index)
    assert faiss_kb.store == "faiss" and milvus_kb.store.startswith("Milvus collection")
    assert _results(milvus_kb) == _results(faiss_kb)

    # add, change and delete files, then update both (the store is kept without --store)
    write(docs / "otters.txt", "Otters returned to the creek in 2019. They live under the old mill.")
    write(docs / "ferry.txt", "The ferry at Tallow Creek was painted green in May. It carries forty cars.")
    (docs / "market.txt").unlink()
    faiss_kb, milvus_kb = _both(tmp_path, lambda folder, _: index_paths([docs], index_dir=folder, encoder=enc,
                                                                          show_progress=False))
    assert "market.txt" not in {d.doc_id for d in milvus_kb.documents}
    assert _results(milvus_kb) == _results(faiss_kb)
    manifest = read_manifest(tmp_path / "milvus")
    store = index_store(manifest)
    assert len(manifest["segments"]) == 2
    for segment in manifest["segments"]:  # deleted and replaced documents' rows are gone from Milvus
        assert store.count(segment["name"]) == live_counts([segment])["chunks"]

    # merging rewrites the segments as one: the collection follows, nothing is left of the old ones
    merged = merge(tmp_path / "milvus", manifest, [s["name"] for s in manifest["segments"]])
    assert len(merged["segments"]) == 1
    assert store.count(merged["segments"][0]["name"]) == merged["counts"]["chunks"]
    for segment in manifest["segments"]:
        assert store.count(segment["name"]) == 0
    assert _results(KnowledgeBase.open(tmp_path / "milvus", encoder=enc)) == _results(faiss_kb)


def test_kb_add_and_remove_keep_milvus_in_step(tmp_path):
    docs = _folder(tmp_path)
    enc = FakeEncoder()
    kb = KnowledgeBase.build([docs], index_dir=tmp_path / "idx", encoder=enc, show_progress=False,
                             store=f"milvus-lite:{tmp_path / 'kb.db'}")
    note = write(tmp_path / "up" / "otters.txt", "Otters returned to the creek in 2019.")
    kb, added = kb.add([note], prefix="uploads/")
    assert [d.doc_id for d in added] == ["uploads/otters.txt"]
    assert kb.search("Otters returned to the creek in 2019.", k=1, mode="dense")[0].doc_id == "uploads/otters.txt"
    kb = kb.remove(["uploads/otters.txt"])
    assert all(p.doc_id != "uploads/otters.txt" for p in kb.search("otters creek 2019", k=5, mode="dense"))


def test_rows_a_killed_writer_left_are_ignored_then_removed(tmp_path):
    docs = _folder(tmp_path)
    enc = FakeEncoder()
    folder = tmp_path / "idx"
    index_paths([docs], index_dir=folder, encoder=enc, store=f"milvus-lite:{tmp_path / 'kb.db'}",
                show_progress=False)
    kb = KnowledgeBase.open(folder, encoder=enc)
    before = _results(kb)
    store = index_store(read_manifest(folder))
    # A writer inserted a segment's rows, then died before its manifest was swapped in.
    query = enc.encode_query(QUESTIONS[0])
    store.insert("seg-deadbeef0000", ["river.txt", "ghost.txt"], [0, 0], np.vstack([query, query]))
    assert _results(KnowledgeBase.open(folder, encoder=enc)) == before
    write(docs / "otters.txt", "Otters returned to the creek in 2019.")
    index_paths([docs], index_dir=folder, encoder=enc, show_progress=False)
    assert store.count("seg-deadbeef0000") == 0


def test_another_store_rebuilds_and_faiss_needs_no_milvus(tmp_path):
    docs = _folder(tmp_path)
    enc = FakeEncoder()
    folder = tmp_path / "idx"
    index_paths([docs], index_dir=folder, encoder=enc, show_progress=False)
    assert read_manifest(folder)["store"] == {"kind": FAISS}
    report = index_paths([docs], index_dir=folder, encoder=enc, store=f"milvus-lite:{tmp_path / 'kb.db'}",
                         show_progress=False)
    assert report.rebuilt and read_manifest(folder)["store"]["kind"] == MILVUS
    report = index_paths([docs], index_dir=folder, encoder=enc, show_progress=False)
    assert not report.modified and read_manifest(folder)["store"]["kind"] == MILVUS


def test_unreachable_server_is_one_line_within_seconds(tmp_path):
    docs = _folder(tmp_path)
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "ui.cli", "index", str(docs), "--index", str(tmp_path / "idx"),
                          "--store", "milvus://127.0.0.1:9/nothing_here", "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60  # (the model loads first; the store call itself times out in 10 s)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Milvus at http://127.0.0.1:9" in lines[0], run.stderr
    assert not (tmp_path / "idx").exists()


def test_a_dropped_collection_is_one_line_naming_the_rebuild(tmp_path):
    docs = _folder(tmp_path)
    folder = tmp_path / "idx"
    index_paths([docs], index_dir=folder, encoder=FakeEncoder(), store=f"milvus-lite:{tmp_path / 'kb.db'}",
                show_progress=False)
    index_store(read_manifest(folder)).drop()
    with pytest.raises(StoreError, match="does not exist .*--rebuild"):
        KnowledgeBase.open(folder, encoder=FakeEncoder())
    report = index_paths([docs], index_dir=folder, encoder=FakeEncoder(), rebuild=True, show_progress=False)
    assert report.rebuilt and KnowledgeBase.open(folder, encoder=FakeEncoder()).search("ferry", k=1, mode="dense")
