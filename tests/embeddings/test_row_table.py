"""An opened index keeps chunks and sentences as arrays and documents without their text: the
arrays say what the chunk objects said, and a document's text is read from its segment on request."""

from __future__ import annotations

import os
import random
import shutil

import numpy as np
import pytest

from conftest import FakeEncoder, write
from corpus import Chunk, Document, chunk_document
from corpus.chunking import ChunkingSettings
from embeddings.document_shelf import STEP, TEXTS, DocumentShelf, SegmentStore, write_text_index
from embeddings.index_folder import write_store
from embeddings.row_table import RowTable, sentence_table
from qa import KnowledgeBase
from qa.updating import index_paths


def _documents(n: int) -> list[Document]:
    return [Document(f"d{i}", f"d{i}.txt", f"Doc {i}",
                     " ".join(f"Sentence {j} of document {i} says something about item {i * j}." for j in range(2 + i)))
            for i in range(n)]


def _chunks(docs: list[Document]) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, settings=ChunkingSettings(max_tokens=48, overlap=1))]


def _as_tuples(table: RowTable, ids: list[str]) -> tuple[list, list]:
    chunks = [(ids[table.chunk_doc[i]], int(table.chunk_index[i]), int(table.chunk_start[i]), int(table.chunk_end[i]),
               [(int(table.sentence_start[r]), int(table.sentence_end[r])) for r in table.sentences_of(i)])
              for i in range(table.chunks)]
    spans = [(ids[table.sentence_doc[r]], int(table.sentence_start[r]), int(table.sentence_end[r]))
             for r in range(table.sentences)]
    return chunks, spans


def _expected(chunks: list[Chunk]) -> tuple[list, list]:
    spans, _ = sentence_table(chunks)
    return [(c.doc_id, c.index, c.start, c.end, list(c.sentences)) for c in chunks], spans


def test_the_table_says_what_the_chunks_say_after_deletions_and_joins(tmp_path):
    docs = _documents(7)
    chunks = _chunks(docs)
    ids = [d.doc_id for d in docs]
    table = RowTable.of_chunks(ids, chunks)
    assert table.sentences < sum(len(c.sentences) for c in chunks)  # overlapping chunks share sentence rows
    assert _as_tuples(table, ids) == _expected(chunks)

    table.save(tmp_path / "table.npz")
    loaded = RowTable.load(tmp_path / "table.npz")
    assert _as_tuples(loaded, ids) == _expected(chunks)

    keep = np.array([i % 3 != 1 for i in range(len(docs))])
    live, chunk_mask, sentence_mask = loaded.live(keep)
    kept = [d for d, k in zip(ids, keep) if k]
    assert _as_tuples(live, kept) == _expected([c for c in chunks if c.doc_id in kept])
    assert chunk_mask.sum() == live.chunks and sentence_mask.sum() == live.sentences

    first, second = RowTable.of_chunks(ids[:3], _chunks(docs[:3])), RowTable.of_chunks(ids[3:], _chunks(docs[3:]))
    assert _as_tuples(RowTable.concat([first, second], [3, 4]), ids) == _expected(chunks)


def test_documents_are_read_from_their_store_and_only_recent_ones_kept(tmp_path):
    docs = _documents(5)
    write_store(tmp_path, docs, _chunks(docs))
    write_text_index(tmp_path, docs)
    store = SegmentStore(tmp_path)
    records = store.records()
    assert [r.doc_id for r in records] == [d.doc_id for d in docs]
    assert [r.chars for r in records] == [len(d.text) for d in docs]
    shelf = DocumentShelf(records, [store] * len(records), cache_chars=2 * max(len(d.text) for d in docs))
    for d in docs:
        assert shelf.get(d.doc_id) == d and shelf.get(d.doc_id).sha256 == d.sha256
    assert 1 <= len(shelf._cache) <= 2
    assert shelf.position("d3") == 3 and "d9" not in shelf


def test_spans_and_lines_are_read_alone_and_equal_the_texts_own(tmp_path):
    rng = random.Random(5)
    words = ["bee", "Ökologie", "naïve", "温度", "𝔘nicode", "\n", "\n\n", "x" * 40, "—", "é"]
    docs = [Document(f"t{i}", f"t{i}.txt", "T", " ".join(rng.choice(words) for _ in range(n)))
            for i, n in enumerate([0, 1, 50, 700, 3000])]
    write_store(tmp_path, docs, [])
    write_text_index(tmp_path, docs)
    shelf = DocumentShelf(SegmentStore(tmp_path).records(), [SegmentStore(tmp_path)] * len(docs))
    for doc in docs:
        n = len(doc.text)
        cuts = {0, n, STEP, 2 * STEP, STEP - 1, n // 2} | {rng.randint(0, n) for _ in range(30)}
        for start in sorted(c for c in cuts if c <= n):
            for end in (start, start + 1, start + 37, start + STEP + 3, n, n + 10):
                assert shelf.span(doc.doc_id, start, end) == doc.text[start:end]
            assert shelf.line_at(doc.doc_id, start) == doc.line_at(start)
            text, shift = shelf.around(doc.doc_id, start, min(n, start + 20), before=100)
            assert doc.text[shift:min(n, start + 20)] == text and start - 100 <= shift <= start
            assert shift == 0 or doc.text[shift - 1] == "\n" or shift == start


def test_an_opened_index_reads_documents_after_a_merge_removed_their_segment(tmp_path):
    docs = tmp_path / "docs"
    for i in range(4):
        write(docs / f"n{i}.txt", f"Note {i}. The river rose by {i + 2} feet in spring. The ferry stopped.")
    index_paths([docs], index_dir=tmp_path / "idx", encoder=FakeEncoder(), show_progress=False)
    kb = KnowledgeBase.open(tmp_path / "idx", encoder=FakeEncoder())
    shutil.rmtree(tmp_path / "idx" / "segments")  # as a merge removes the folders of the segments it rewrote
    assert kb.document("n2.txt").text.startswith("Note 2.")
    assert kb.chunk_counts() == {f"n{i}.txt": 1 for i in range(4)}
    assert [r.doc_id for r in kb.records] == [f"n{i}.txt" for i in range(4)]
    passage = kb.search("river rose", k=1, mode="lexical")[0]
    assert kb.document(passage.doc_id).text[passage.start:passage.end] == passage.text


def test_spans_are_read_ahead_from_the_bytes_that_hold_them(tmp_path, monkeypatch):
    if not hasattr(os, "posix_fadvise"):
        pytest.skip("posix_fadvise is not available on this system")
    docs = [Document(f"t{i}", f"t{i}.txt", "T", ("Ökologie naïve 温度 — " * (40 * i + 3))) for i in range(3)]
    write_store(tmp_path, docs, [])
    write_text_index(tmp_path, docs)
    store = SegmentStore(tmp_path)
    shelf = DocumentShelf(store.records(), [store] * len(docs))
    asked = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, size, advice: asked.append((offset, size)))
    spans = [("t2", 700, 760), ("t0", 5, 30), ("t1", 0, 0), ("t1", STEP - 2, STEP + 2)]
    shelf.prefetch(spans)
    assert len(asked) == 3  # an empty span asks for nothing
    data = (tmp_path / TEXTS).read_bytes()
    for (offset, size), (doc_id, start, end) in zip(asked, [s for s in spans if s[1] < s[2]]):
        text = next(d.text for d in docs if d.doc_id == doc_id)
        assert text[start:end] in data[offset:offset + size].decode("utf-8")
