"""The index's sentences as `ask` reads them: spans, neighbours, vectors and windows, and the
candidate sentences of retrieved chunks."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from embeddings.document_shelf import DocumentShelf
from embeddings.row_table import RowTable
from qa.answers import Candidate

# A quote that introduces a list (ends with ":") takes up to this many following items with it.
MAX_LIST_ITEMS = 4


class Sentences:
    """Every sentence of an index, one row each (`embeddings.row_table.RowTable`), with its
    stored vector and window vectors; text comes from the documents when a sentence is read."""

    def __init__(self, documents: DocumentShelf, table: RowTable, chunk_matrix: np.ndarray,
                 vectors: np.ndarray, windows: tuple[np.ndarray, np.ndarray]) -> None:
        self._documents = documents
        self._table = table
        self._chunk_matrix = chunk_matrix
        self.matrix = vectors
        self._windows = windows  # (vectors, offsets): sentence i's windows are vectors[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return self._table.sentences

    def span(self, srow: int) -> tuple[str, int, int]:
        """(doc_id, start, end) of sentence `srow`."""
        t = self._table
        return self._documents.ids[t.sentence_doc[srow]], int(t.sentence_start[srow]), int(t.sentence_end[srow])

    def candidates(self, ids: np.ndarray, scores: np.ndarray, query: np.ndarray) -> list[Candidate]:
        """The sentences of the retrieved chunks, each once, with its best passage's rank and score."""
        seen: dict[int, Candidate] = {}
        rows = [self._table.sentences_of(row).tolist() for row in ids.tolist()]
        contexts = {srow: self.context_span(srow) for srows in rows for srow in srows}
        self._documents.prefetch(contexts.values())
        for rank, (row, score, srows) in enumerate(zip(ids.tolist(), scores.tolist(), rows), start=1):
            passage_dense = float(self._chunk_matrix[row] @ query)
            for srow in srows:
                if srow in seen:
                    continue
                doc_id, start, end = self.span(srow)
                seen[srow] = Candidate(srow, doc_id, start, end, self._documents.span(doc_id, start, end),
                                       self._documents.span(*contexts[srow]), rank, float(score), passage_dense, row)
        return list(seen.values())

    def neighbors(self, srow: int) -> list[int]:
        """Rows of the sentences just before and after `srow` in the same document."""
        doc = self._table.sentence_doc
        return [r for r in (srow - 1, srow + 1) if 0 <= r < len(doc) and doc[r] == doc[srow]]

    def context_span(self, srow: int) -> tuple[str, int, int]:
        """(doc_id, start, end) of the sentence with its neighbours in the same document."""
        doc_id, start, end = self.span(srow)
        for r in self.neighbors(srow):
            start, end = min(start, int(self._table.sentence_start[r])), max(end, int(self._table.sentence_end[r]))
        return doc_id, start, end

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The sentence vectors of `rows` (stored as float16), as float32."""
        return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def windows(self, row: int) -> np.ndarray:
        """The window vectors of sentence `row` (none for a short sentence)."""
        vectors, offsets = self._windows
        return vectors[offsets[row]:offsets[row + 1]]

    def window_dense(self, rows: Sequence[int], query: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Each sentence's best cosine with the query over its own vector and its windows'."""
        best = dense.copy()
        vectors, offsets = self._windows
        if hasattr(vectors, "prefetch") and len(rows):
            vectors.prefetch(np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in rows]))
        for i, row in enumerate(rows):
            windows = self.windows(row)
            if len(windows):
                best[i] = max(best[i], float((windows.astype(np.float32) @ query).max()))
        return best

    def quote_end(self, srow: int) -> int:
        """Where a quote starting with sentence `srow` ends: the sentence itself, or, when it
        introduces a list ("For a normal local reaction:"), the next few items too."""
        doc_id, start, end = self.span(srow)
        if not self._documents.span(doc_id, start, end).rstrip().endswith(":"):
            return end
        for nxt in range(srow + 1, min(srow + 1 + MAX_LIST_ITEMS, len(self))):
            next_doc, next_start, next_end = self.span(nxt)
            if next_doc != doc_id or self._documents.span(doc_id, end, next_start).strip():  # not the very next sentence
                break
            end = next_end
        return end
