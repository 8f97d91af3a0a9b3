"""Approximate dense search (`--index-type hnsw|ivfpq`): close to exact search, exact on what it
does not cover yet, blind to deleted rows, rebuilt when stale, switched without re-encoding."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CountingEncoder, FakeEncoder, write
from embeddings import ann_index
from embeddings.errors import IndexDamagedError
from embeddings.index_folder import read_manifest
from qa import KnowledgeBase
from qa.updating import index_paths

WORDS = ("river bee ferry market otter bridge mill creek honey snow spring blue green seven noon harbour "
         "lantern orchard quarry meadow barley forge cellar thatch").split()



def _corpus(folder, n=60, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        write(folder / f"d{i:03}.txt", " ".join(f"{' '.join(rng.choice(WORDS, 8))} item{i}x{j}." for j in range(10)))
    return folder


def _exact_rows(kb, query, k):
    scores = kb._matrix @ query
    return set(np.argsort(-scores)[:k].tolist())


def test_hnsw_finds_what_exact_search_finds(tmp_path):
    docs = _corpus(tmp_path / "docs")
    enc = CountingEncoder()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="hnsw", show_progress=False)
    record = read_manifest(tmp_path / "idx")["vector_index"]
    assert record["type"] == "hnsw" and (tmp_path / "idx" / record["file"]).is_file()
    kb = KnowledgeBase.open(tmp_path / "idx", encoder=enc)
    rng = np.random.default_rng(1)
    found = 0
    for _ in range(30):
        query = enc.encode_query(" ".join(rng.choice(WORDS, 4)))
        scores, rows = kb._vectors.search(query, 10)
        assert np.all(np.diff(scores) <= 1e-6)  # best first, with exact scores
        np.testing.assert_allclose(scores, kb._matrix[rows] @ query, rtol=1e-5, atol=1e-6)
        found += len(set(rows.tolist()) & _exact_rows(kb, query, 10))
    assert found / 300 >= 0.95


def test_new_rows_are_searched_exactly_and_deleted_ones_never_come_back(tmp_path):
    docs = _corpus(tmp_path / "docs")
    enc = CountingEncoder()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="hnsw", show_progress=False)
    first = read_manifest(tmp_path / "idx")["vector_index"]["file"]
    write(docs / "new.txt", "The lantern forge stood by the quarry at noon.")
    (docs / "d003.txt").unlink()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, show_progress=False)
    manifest = read_manifest(tmp_path / "idx")
    assert manifest["vector_index"]["file"] == first  # a small change does not rebuild it
    kb = KnowledgeBase.open(tmp_path / "idx", encoder=enc)
    assert kb.search("The lantern forge stood by the quarry at noon.", k=1, mode="dense")[0].doc_id == "new.txt"
    for word in WORDS:
        assert all(p.doc_id != "d003.txt" for p in kb.search(f"{word} item3x1", k=20, mode="dense"))


def test_a_stale_index_is_rebuilt_and_optimize_covers_everything(tmp_path, monkeypatch):
    docs = _corpus(tmp_path / "docs", n=20)
    enc = CountingEncoder()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="hnsw", show_progress=False)
    first = read_manifest(tmp_path / "idx")["vector_index"]
    monkeypatch.setattr(ann_index, "TAIL_ROWS", 5)
    _corpus(tmp_path / "docs", n=30, seed=3)  # rewrites 20 files and adds 10: most rows are new or deleted
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, show_progress=False)
    manifest = read_manifest(tmp_path / "idx")
    assert manifest["vector_index"]["file"] != first["file"]
    assert not (tmp_path / "idx" / first["file"]).exists()  # the replaced file is removed
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, optimize=True, show_progress=False)
    manifest = read_manifest(tmp_path / "idx")
    assert [name for name, _ in manifest["vector_index"]["segments"]] == [s["name"] for s in manifest["segments"]]


def test_switching_type_reencodes_nothing(tmp_path, monkeypatch):
    docs = _corpus(tmp_path / "docs", n=20)
    enc = CountingEncoder()
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, show_progress=False)
    assert "vector_index" not in read_manifest(tmp_path / "idx")  # auto, small: exact search
    enc.encoded = 0
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="hnsw", show_progress=False)
    assert read_manifest(tmp_path / "idx")["vector_index"]["type"] == "hnsw" and enc.encoded == 0
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="flat", show_progress=False)
    assert read_manifest(tmp_path / "idx")["vector_index"] == {"requested": "flat", "type": "flat"}
    assert not list((tmp_path / "idx").glob("ann-*")) and enc.encoded == 0
    # auto picks HNSW from AUTO_CHUNKS chunks on
    monkeypatch.setattr(ann_index, "AUTO_CHUNKS", 50)
    manifest = ann_index.refresh_vector_index(tmp_path / "idx", read_manifest(tmp_path / "idx"), "auto")
    assert manifest["vector_index"]["type"] == "hnsw"


def test_ivfpq_needs_a_large_index_and_a_damaged_file_names_the_rebuild(tmp_path):
    docs = _corpus(tmp_path / "docs", n=20)
    enc = FakeEncoder()
    with pytest.raises(ann_index.IndexTypeError, match="at least 10,000 chunks"):
        index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="ivfpq", show_progress=False)
    with pytest.raises(ann_index.IndexTypeError, match="unknown index type"):
        index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="annoy", show_progress=False)
    index_paths([docs], index_dir=tmp_path / "idx", encoder=enc, index_type="hnsw", show_progress=False)
    path = tmp_path / "idx" / read_manifest(tmp_path / "idx")["vector_index"]["file"]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(IndexDamagedError, match="--rebuild"):
        KnowledgeBase.open(tmp_path / "idx", encoder=enc)
