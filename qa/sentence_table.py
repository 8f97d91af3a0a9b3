"""The index's sentences as `ask` reads them: spans, neighbours, vectors and windows, and the
candidate sentences of retrieved chunks."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from corpus import Chunk, Document
from embeddings.segments import sentence_table
from qa.answers import Candidate

# A quote that introduces a list (ends with ":") takes up to this many following items with it.
MAX_LIST_ITEMS = 4


class Sentences:
    """Every sentence of an index, one row each (`embeddings.segments.sentence_table`), with its
    stored vector and window vectors."""

    def __init__(self, documents: Mapping[str, Document], chunks: Sequence[Chunk], chunk_matrix: np.ndarray,
                 vectors: np.ndarray, windows: tuple[np.ndarray, np.ndarray]) -> None:
        self._documents = documents
        self._chunk_matrix = chunk_matrix
        self.spans, self.of_chunk = sentence_table(chunks)
        self.matrix = vectors
        self._windows = windows  # (vectors, offsets): sentence i's windows are vectors[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.spans)

    def candidates(self, ids: np.ndarray, scores: np.ndarray, query: np.ndarray) -> list[Candidate]:
        """The sentences of the retrieved chunks, each once, with its best passage's rank and score."""
        seen: dict[int, Candidate] = {}
        for rank, (row, score) in enumerate(zip(ids.tolist(), scores.tolist()), start=1):
            passage_dense = float(self._chunk_matrix[row] @ query)
            for srow in self.of_chunk[row]:
                if srow in seen:
                    continue
                doc_id, start, end = self.spans[srow]
                text = self._documents[doc_id].text
                seen[srow] = Candidate(srow, doc_id, start, end, text[start:end], self.context(srow),
                                       rank, float(score), passage_dense, row)
        return list(seen.values())

    def neighbors(self, srow: int) -> list[int]:
        """Rows of the sentences just before and after `srow` in the same document."""
        doc_id = self.spans[srow][0]
        return [r for r in (srow - 1, srow + 1)
                if 0 <= r < len(self.spans) and self.spans[r][0] == doc_id]

    def context(self, srow: int) -> str:
        """The sentence with its neighbours in the same document."""
        doc_id, start, end = self.spans[srow]
        for r in self.neighbors(srow):
            start, end = min(start, self.spans[r][1]), max(end, self.spans[r][2])
        return self._documents[doc_id].text[start:end]

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        return self.matrix[np.asarray(rows, dtype=np.int64)]

    def windows(self, row: int) -> np.ndarray:
        """The window vectors of sentence `row` (none for a short sentence)."""
        vectors, offsets = self._windows
        return vectors[offsets[row]:offsets[row + 1]]

    def window_dense(self, rows: Sequence[int], query: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Each sentence's best cosine with the query over its own vector and its windows'."""
        best = dense.copy()
        for i, row in enumerate(rows):
            windows = self.windows(row)
            if len(windows):
                best[i] = max(best[i], float((windows.astype(np.float32) @ query).max()))
        return best

    def quote_end(self, srow: int) -> int:
        """Where a quote starting with sentence `srow` ends: the sentence itself, or, when it
        introduces a list ("For a normal local reaction:"), the next few items too."""
        doc_id, _, end = self.spans[srow]
        text = self._documents[doc_id].text
        if not text[:end].rstrip().endswith(":"):
            return end
        for nxt in range(srow + 1, min(srow + 1 + MAX_LIST_ITEMS, len(self.spans))):
            next_doc, start, next_end = self.spans[nxt]
            if next_doc != doc_id or text[end:start].strip():  # not the very next sentence
                break
            end = next_end
        return end

