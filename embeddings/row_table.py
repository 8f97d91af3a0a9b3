"""Chunks and sentences as arrays: what an opened index keeps of them instead of Python objects.

A million chunks as `Chunk` objects, with their sentence tuples and the sentence table, take
about a gigabyte; as these arrays they take tens of megabytes. Each segment writes its table
(`TABLE`) beside its vectors; opening an index reads the tables and joins them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus import Chunk

TABLE = "table.npz"


def sentence_table(chunks: Sequence[Chunk]) -> tuple[list[tuple[str, int, int]], list[list[int]]]:
    """Unique sentence spans (doc_id, start, end) in chunk order, and each chunk's rows in that list.

    Overlapping chunks share sentences; each sentence gets one row (and one vector).
    """
    spans: list[tuple[str, int, int]] = []
    per_chunk = []
    rows: dict[tuple[int, int], int] = {}  # of the current document: a document's chunks are consecutive
    doc_id = None
    for chunk in chunks:
        if chunk.doc_id != doc_id:
            doc_id, rows = chunk.doc_id, {}
        mine = []
        for start, end in chunk.sentences:
            row = rows.get((start, end))
            if row is None:
                row = rows[(start, end)] = len(spans)
                spans.append((doc_id, start, end))
            mine.append(row)
        per_chunk.append(mine)
    return spans, per_chunk


@dataclass(frozen=True)
class RowTable:
    """Chunk rows and sentence rows of some documents, by document position (0-based, index order).

    Chunk i is `chunk_start[i]:chunk_end[i]` of document `chunk_doc[i]`, its `chunk_index[i]`-th;
    its sentences are rows `sentence_rows[chunk_sentences[i]:chunk_sentences[i + 1]]` of the
    sentence columns, which hold each sentence once (`segments.sentence_table`'s order).
    """

    chunk_doc: np.ndarray        # int32
    chunk_index: np.ndarray      # int32
    chunk_start: np.ndarray      # int64
    chunk_end: np.ndarray        # int64
    chunk_sentences: np.ndarray  # int64, one more than chunks
    sentence_rows: np.ndarray    # int32
    sentence_doc: np.ndarray     # int32
    sentence_start: np.ndarray   # int64
    sentence_end: np.ndarray     # int64

    @property
    def chunks(self) -> int:
        return len(self.chunk_doc)

    @property
    def sentences(self) -> int:
        return len(self.sentence_doc)

    def sentences_of(self, chunk: int) -> np.ndarray:
        """The sentence rows of chunk row `chunk`, in order."""
        return self.sentence_rows[self.chunk_sentences[chunk]:self.chunk_sentences[chunk + 1]]

    @classmethod
    def of_chunks(cls, doc_ids: Sequence[str], chunks: Sequence[Chunk]) -> "RowTable":
        """The table of `chunks` (consecutive by document), documents numbered by `doc_ids`' order."""
        position = {d: i for i, d in enumerate(doc_ids)}
        spans, per_chunk = sentence_table(chunks)
        sizes = np.array([len(rows) for rows in per_chunk], dtype=np.int64)
        return cls(np.array([position[c.doc_id] for c in chunks], dtype=np.int32),
                   np.array([c.index for c in chunks], dtype=np.int32),
                   np.array([c.start for c in chunks], dtype=np.int64),
                   np.array([c.end for c in chunks], dtype=np.int64),
                   np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                   np.array([r for rows in per_chunk for r in rows], dtype=np.int32),
                   np.array([position[d] for d, _, _ in spans], dtype=np.int32),
                   np.array([s for _, s, _ in spans], dtype=np.int64),
                   np.array([e for _, _, e in spans], dtype=np.int64))

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:  # a file object keeps numpy from renaming the path
            np.savez(f, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> "RowTable":
        with np.load(path, allow_pickle=False) as z:
            return cls(**{f.name: z[f.name] for f in fields(cls)})

    def live(self, keep_documents: np.ndarray) -> tuple["RowTable", np.ndarray, np.ndarray]:
        """The rows of the documents `keep_documents` (a mask by position) marks, documents
        renumbered in order; and the chunk and sentence masks of the rows kept."""
        if keep_documents.all():
            return self, np.ones(self.chunks, dtype=bool), np.ones(self.sentences, dtype=bool)
        new_doc = (np.cumsum(keep_documents) - 1).astype(np.int32)
        chunks, sentences = keep_documents[self.chunk_doc], keep_documents[self.sentence_doc]
        new_sentence = (np.cumsum(sentences) - 1).astype(np.int32)
        sizes = np.diff(self.chunk_sentences)[chunks]
        rows = self.sentence_rows[np.repeat(chunks, np.diff(self.chunk_sentences))]
        table = RowTable(new_doc[self.chunk_doc[chunks]], self.chunk_index[chunks], self.chunk_start[chunks],
                         self.chunk_end[chunks], np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                         new_sentence[rows], new_doc[self.sentence_doc[sentences]], self.sentence_start[sentences],
                         self.sentence_end[sentences])
        return table, chunks, sentences

    @classmethod
    def concat(cls, parts: Sequence["RowTable"], documents: Sequence[int]) -> "RowTable":
        """The rows of `parts` in order; part i's documents counted `documents[i]`."""
        if len(parts) == 1:
            return parts[0]
        doc_shift = np.concatenate([[0], np.cumsum(documents)[:-1]]).astype(np.int32)
        sentence_shift = np.concatenate([[0], np.cumsum([p.sentences for p in parts])[:-1]]).astype(np.int32)
        pointer_shift = np.concatenate([[0], np.cumsum([len(p.sentence_rows) for p in parts])[:-1]])
        cat = np.concatenate
        return cls(cat([p.chunk_doc + s for p, s in zip(parts, doc_shift)]).astype(np.int32),
                   cat([p.chunk_index for p in parts]).astype(np.int32),
                   cat([p.chunk_start for p in parts]).astype(np.int64),
                   cat([p.chunk_end for p in parts]).astype(np.int64),
                   cat([[0]] + [p.chunk_sentences[1:] + s for p, s in zip(parts, pointer_shift)]).astype(np.int64),
                   cat([p.sentence_rows + s for p, s in zip(parts, sentence_shift)]).astype(np.int32),
                   cat([p.sentence_doc + s for p, s in zip(parts, doc_shift)]).astype(np.int32),
                   cat([p.sentence_start for p in parts]).astype(np.int64),
                   cat([p.sentence_end for p in parts]).astype(np.int64))
