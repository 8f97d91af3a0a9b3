"""The index as immutable segments plus deletions: an update writes only the change, merging and
batching change nothing that search or ask return, and leftovers of killed writers are cleaned."""

from __future__ import annotations

import json
import random

import numpy as np

from conftest import FakeEncoder, write
from embeddings.lexical_index import LexicalIndex, TermCounts
from embeddings.segments import list_documents, load_segments
from qa import KnowledgeBase
from qa.updating import index_paths

FACTS = ["The Tallow river floods every spring after the snow melts.", "Mara keeps twelve hives of bees.",
         "The ferry at Tallow Creek was painted blue.", "The club lost nine colonies last winter.",
         "The market opens at seven on Saturdays.", "The library lends tools as well as books.",
         "Otters returned to the creek in 2019.", "The bridge was closed for repairs in March."]
QUESTIONS = ["Which river floods in spring?", "Who keeps the bees?", "What colour is the ferry?",
             "When does the market open?", "When did otters return?"]


def _folder(tmp_path, n: int = 12, seed: int = 3):
    rng = random.Random(seed)
    docs = tmp_path / "docs"
    for i in range(n):
        write(docs / f"note{i:02d}.txt", " ".join(f"In place {rng.randint(2, 999)}, {f[0].lower()}{f[1:]}"
                                                  for f in rng.sample(FACTS, 3)))
    return docs


def _index(docs, idx, **kwargs):
    index_paths([docs], index_dir=idx, encoder=FakeEncoder(), show_progress=False, **kwargs)
    return KnowledgeBase.open(idx, encoder=FakeEncoder())


def _segments(idx) -> list[str]:
    return [s["name"] for s in json.loads((idx / "manifest.json").read_text())["segments"]]


def _answers(kb):
    out = []
    for q in QUESTIONS:
        out.append(sorted((-round(p.score, 4), p.doc_id, p.start, p.end) for p in kb.search(q, k=5)))
        a = kb.ask(q, reader=False)
        out.append((a.abstained, round(a.confidence, 3), sorted((x.doc_id, x.start, x.end) for x in a.quotes)))
    return out


def test_an_update_writes_a_new_segment_and_leaves_the_old_ones_untouched(tmp_path):
    docs = _folder(tmp_path)
    idx = tmp_path / "idx"
    _index(docs, idx)
    (old,) = _segments(idx)
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (idx / "segments" / old).iterdir()}
    write(docs / "note00.txt", "The ferry at Tallow Creek was painted green in May.")  # changed
    (docs / "note01.txt").unlink()                                                     # gone
    kb = _index(docs, idx)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (idx / "segments" / old).iterdir()} == files
    manifest = json.loads((idx / "manifest.json").read_text())
    assert [s["name"] for s in manifest["segments"]][0] == old and len(manifest["segments"]) == 2
    assert manifest["segments"][0]["deleted"] == ["note00.txt", "note01.txt"]
    assert list(manifest["segments"][1]["documents"]) == ["note00.txt"]
    assert manifest["counts"]["documents"] == 11 == len(kb.documents)
    listed = list_documents(idx, manifest)  # what `show --list` prints, read without the vectors
    assert [(d["doc_id"], d["chars"]) for d in listed] == [(d.doc_id, len(d.text)) for d in kb.documents]
    assert kb.search("ferry painted green", k=1)[0].doc_id == "note00.txt"
    assert _answers(kb) == _answers(_index(docs, tmp_path / "fresh", rebuild=True))


def test_a_build_in_small_batches_writes_several_segments_and_answers_the_same(tmp_path):
    docs = _folder(tmp_path)
    batched = _index(docs, tmp_path / "batched", batch_chars=600)
    assert len(_segments(tmp_path / "batched")) >= 4
    whole = _index(docs, tmp_path / "whole")
    assert len(_segments(tmp_path / "whole")) == 1
    assert _answers(batched) == _answers(whole)
    assert [d.doc_id for d in batched.documents] == [d.doc_id for d in whole.documents]


def test_a_build_merges_its_batches_tier_by_tier_and_answers_the_same(tmp_path, monkeypatch):
    docs = _folder(tmp_path, n=30)
    monkeypatch.setattr("embeddings.segments.MERGE_FACTOR", 10_000)
    apart = _index(docs, tmp_path / "apart", batch_chars=300)
    batches = len(_segments(tmp_path / "apart"))
    monkeypatch.setattr("embeddings.segments.MERGE_FACTOR", 3)
    merged = _index(docs, tmp_path / "merged", batch_chars=300)
    names = _segments(tmp_path / "merged")
    assert batches >= 20 and len(names) < batches / 2
    assert sorted(p.name for p in (tmp_path / "merged" / "segments").iterdir()) == sorted(names)
    assert _answers(merged) == _answers(apart)
    assert [d.doc_id for d in merged.documents] == [d.doc_id for d in apart.documents]
    (a, _), (b, _) = (load_segments(tmp_path / name, json.loads((tmp_path / name / "manifest.json").read_text()))
                      for name in ("apart", "merged"))
    for field in ("chunk_vectors", "sentence_vectors", "windows", "window_offsets"):
        assert np.array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field))), field


def test_optimize_merges_every_segment_into_one_without_encoding(tmp_path):
    docs = _folder(tmp_path)
    idx = tmp_path / "idx"
    _index(docs, idx, batch_chars=600)
    (docs / "note03.txt").unlink()
    before = _answers(_index(docs, idx))
    encoder = FakeEncoder()
    encoder.encode = None  # merging must not encode
    index_paths([docs], index_dir=idx, encoder=encoder, show_progress=False, optimize=True)
    assert len(_segments(idx)) == 1
    (name,) = _segments(idx)
    assert [p.name for p in (idx / "segments").iterdir()] == [name]  # the merged ones are removed
    manifest = json.loads((idx / "manifest.json").read_text())
    assert manifest["segments"][0]["deleted"] == [] and manifest["counts"]["documents"] == 11
    assert _answers(KnowledgeBase.open(idx, encoder=FakeEncoder())) == before


def test_many_small_updates_are_merged_as_they_come(tmp_path, monkeypatch):
    monkeypatch.setattr("embeddings.segments.MAX_SEGMENTS", 3)
    docs = _folder(tmp_path, n=2)
    idx = tmp_path / "idx"
    _index(docs, idx)
    for i in range(6):
        write(docs / f"late{i}.txt", FACTS[i])
        kb = _index(docs, idx)
        assert len(_segments(idx)) <= 3
    assert len(kb.documents) == 8
    assert len(list((idx / "segments").iterdir())) == len(_segments(idx))
    assert _answers(kb) == _answers(_index(docs, tmp_path / "fresh"))


def test_updates_merge_tier_by_tier_but_leave_what_the_vector_index_covers(tmp_path, monkeypatch):
    docs = _folder(tmp_path, n=6)
    idx = tmp_path / "idx"
    monkeypatch.setattr("embeddings.segments.MERGE_FACTOR", 10_000)
    _index(docs, idx, batch_chars=300, index_type="hnsw")
    covered = json.loads((idx / "manifest.json").read_text())["vector_index"]
    assert len(covered["segments"]) >= 3
    monkeypatch.setattr("embeddings.segments.MERGE_FACTOR", 3)
    monkeypatch.setattr("embeddings.segments.SMALL_CHUNKS", 1)  # no segment counts as small
    for i in range(7):
        write(docs / f"late{i}.txt", FACTS[i])
        kb = _index(docs, idx)
    manifest = json.loads((idx / "manifest.json").read_text())
    names = [s["name"] for s in manifest["segments"]]
    assert manifest["vector_index"] == covered  # not rebuilt: the segments it covers stay as they were
    assert names[:len(covered["segments"])] == [name for name, _ in covered["segments"]]
    assert len(names) - len(covered["segments"]) <= 3 < 7  # the seven updates' segments were merged
    assert sorted(p.name for p in (idx / "segments").iterdir()) == sorted(names)
    assert _answers(kb) == _answers(_index(docs, tmp_path / "fresh", index_type="hnsw"))


def test_leftovers_of_a_killed_writer_are_ignored_then_removed(tmp_path):
    docs = _folder(tmp_path, n=3)
    idx = tmp_path / "idx"
    before = _answers(_index(docs, idx))
    (idx / "segments" / ".seg-0123456789ab.writing").mkdir()  # killed while writing a segment
    (idx / "segments" / "seg-0123456789ab").mkdir()           # killed after the rename, before the commit
    (idx / ".manifest.json.deadbeef").write_text("{")          # killed while writing the manifest
    assert _answers(KnowledgeBase.open(idx, encoder=FakeEncoder())) == before
    write(docs / "late.txt", FACTS[6])
    _index(docs, idx)
    assert sorted(p.name for p in (idx / "segments").iterdir()) == sorted(_segments(idx))
    assert not list(idx.glob(".manifest.json.*"))


def test_a_reader_holding_an_old_manifest_reads_the_new_commit_after_a_merge(tmp_path):
    docs = _folder(tmp_path)
    idx = tmp_path / "idx"
    _index(docs, idx, batch_chars=600)
    stale = json.loads((idx / "manifest.json").read_text())
    index_paths([docs], index_dir=idx, encoder=FakeEncoder(), show_progress=False, optimize=True)
    data, manifest = load_segments(idx, stale)  # its segments were merged away meanwhile
    assert manifest["index_id"] != stale["index_id"] and len(data.documents) == 12


def test_bm25_over_stacked_segment_counts_equals_bm25_over_all_texts():
    texts = [f"{FACTS[i % 8]} Item {i} of the list, with asn1_der_decoding." for i in range(30)]
    parts = [TermCounts.of_texts(texts[:7]), TermCounts.of_texts(texts[7:20]), TermCounts.of_texts(texts[20:])]
    stacked = LexicalIndex(TermCounts.stack(parts))
    whole = LexicalIndex.build(texts)
    for query in ("ferry painted blue", "item 12 list", "der decoding", "nothing matches zebra"):
        np.testing.assert_allclose(stacked.scores(query), whole.scores(query), rtol=1e-6)
    keep = np.arange(30) % 3 != 0
    np.testing.assert_allclose(LexicalIndex(TermCounts.stack(parts).rows(keep)).scores("ferry blue"),
                               LexicalIndex.build([t for t, k in zip(texts, keep) if k]).scores("ferry blue"),
                               rtol=1e-6)


def test_row_blocks_read_as_the_concatenated_array():
    from embeddings.row_blocks import RowBlocks

    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((n, 3)).astype(np.float32) for n in (0, 4, 1, 5)]
    whole, rows = np.concatenate(blocks), RowBlocks(blocks)
    assert len(rows) == 10 and rows.shape == (10, 3)
    for key in (0, 3, 4, 9, -1, slice(0, 4), slice(5, 10), slice(2, 7), [9, 0, 4, 4], np.arange(10) % 3 == 0):
        np.testing.assert_array_equal(rows[key], whole[key])
    np.testing.assert_array_equal(np.asarray(rows), whole)


def test_files_stream_through_reading_and_encoding_in_batches(tmp_path, monkeypatch):
    """A large folder is never held whole: each batch is encoded and written before the next is read."""
    import embeddings.indexer
    import qa.updating

    docs = _folder(tmp_path, n=10)
    events = []
    read, encode = qa.updating.read_file, embeddings.indexer.encode_segment
    monkeypatch.setattr(qa.updating, "read_file", lambda f, **kw: events.append("read") or read(f, **kw))
    monkeypatch.setattr(embeddings.indexer, "encode_segment",
                        lambda documents, *a, **kw: events.append(f"encode {len(documents)}") or encode(documents, *a, **kw))
    size = max(len(p.read_text()) for p in docs.iterdir())
    index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False, batch_chars=2 * size)
    encodes = [e for e in events if e.startswith("encode")]
    assert len(encodes) >= 4 and all(int(e.split()[1]) <= 2 for e in encodes)
    first_encode = events.index(encodes[0])
    assert events[first_encode + 1:].count("read") >= 6  # most files were read after the first batch was written
