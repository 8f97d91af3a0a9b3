"""An opened index as `ask` reads it: documents without their text, chunks and sentences as arrays,
vectors and BM25 postings on disk. Building and merging read segments whole
(`segments.read_segment`); serving reads this view, whose memory grows by bytes per chunk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.document_shelf import DocumentShelf, SegmentStore
from embeddings.index_folder import SEGMENTS
from embeddings.lexical_index import LexicalIndex, Postings
from embeddings.row_blocks import RowBlocks
from embeddings.row_file import RowFile, RowSubset
from embeddings.row_table import TABLE, RowTable
from embeddings.segments import (
    CHUNK_VECTORS, SENTENCE_VECTORS, WINDOW_OFFSETS, WINDOWS, check_counts, read_consistently, window_rows,
)


@dataclass(frozen=True)
class IndexView:
    """The live rows of every segment, in order. Sentence i's windows are
    `windows[window_offsets[i]:window_offsets[i + 1]]`."""

    documents: DocumentShelf
    table: RowTable
    chunk_vectors: RowBlocks
    sentence_vectors: RowBlocks
    windows: RowBlocks
    window_offsets: np.ndarray
    postings: list[tuple[Postings, np.ndarray]]  # each segment's, with its rows' places (-1: deleted)

    def lexical(self, *, k1: float, b: float) -> LexicalIndex:
        """BM25 over the live chunks, from the segments' postings where they lie on disk."""
        return LexicalIndex.of_parts(self.postings, k1=k1, b=b)


@dataclass(frozen=True)
class _Part:
    records: list
    store: SegmentStore
    table: RowTable
    vectors: tuple
    window_offsets: np.ndarray
    postings: Postings
    live_chunks: np.ndarray  # mask over the segment's chunks


def open_view(index_dir: Path, manifest: dict) -> tuple[IndexView, dict]:
    """The index's view, checked against the manifest's checksums and counts; and the manifest read."""
    index_dir = Path(index_dir)

    def read_all(manifest: dict) -> IndexView:
        view = _join([_open_part(index_dir / SEGMENTS / s["name"], set(s["deleted"])) for s in manifest["segments"]],
                     manifest["model"]["dimension"])
        check_counts(index_dir, manifest, {"documents": len(view.documents), "chunks": view.table.chunks,
                                           "sentences": view.table.sentences,
                                           "sentence_windows": len(view.windows)},
                     len(view.chunk_vectors) == view.table.chunks
                     and all(len(p) == len(rows) for p, rows in view.postings)
                     and len(view.sentence_vectors) == view.table.sentences)
        return view

    return read_consistently(index_dir, manifest, read_all)


def _open_part(folder: Path, deleted: set[str]) -> _Part:
    store = SegmentStore(folder)
    records = store.records()
    keep = np.array([r.doc_id not in deleted for r in records], dtype=bool)
    table, chunks, sentences = RowTable.load(folder / TABLE).live(keep)
    offsets = np.load(folder / WINDOW_OFFSETS, allow_pickle=False)
    files = [RowFile(folder / name) for name in (CHUNK_VECTORS, SENTENCE_VECTORS, WINDOWS)]
    if not keep.all():
        rows, offsets = window_rows(offsets, sentences)
        files = [RowSubset(files[0], np.flatnonzero(chunks)), RowSubset(files[1], np.flatnonzero(sentences)),
                 RowSubset(files[2], rows)]
    return _Part([r for r, k in zip(records, keep) if k], store, table, tuple(files), offsets, Postings.open(folder),
                 chunks)


def _join(parts: list[_Part], dimension: int) -> IndexView:
    offsets, shift, postings, rows = [np.zeros(1, dtype=np.int64)], 0, [], 0
    for p in parts:
        places = np.full(len(p.live_chunks), -1, dtype=np.int64)
        places[p.live_chunks] = rows + np.arange(int(p.live_chunks.sum()))
        rows += int(p.live_chunks.sum())
        postings.append((p.postings, places))
        offsets.append(np.asarray(p.window_offsets[1:]) + shift)
        shift += len(p.vectors[2])
    empty = np.zeros((0, dimension), dtype=np.float32)
    shelf = DocumentShelf([r for p in parts for r in p.records], [p.store for p in parts for _ in p.records])
    table = RowTable.concat([p.table for p in parts], [len(p.records) for p in parts])
    return IndexView(shelf, table, RowBlocks([empty] + [p.vectors[0] for p in parts]),
                     RowBlocks([empty.astype(np.float16)] + [p.vectors[1] for p in parts]),
                     RowBlocks([empty.astype(np.float16)] + [p.vectors[2] for p in parts]),
                     np.concatenate(offsets), postings)
