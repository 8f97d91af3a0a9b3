"""Which dense search an opened index uses: an exact scan of its chunk vectors in memory, its
approximate FAISS index (`embeddings.ann_index`), or its Milvus collection (`embeddings.vector_store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from embeddings.ann_index import AnnSearch, ExactSearch
from embeddings.index_view import IndexView
from embeddings.segments import index_store, live_documents
from embeddings.vector_store import StoreSearch


class DenseSearch(Protocol):
    """What `KnowledgeBase` sees of every back end: the live chunks' count, and their `k` nearest
    to a query vector as (inner products, chunk rows), best first, equal scores by row.
    Writing is each back end's part of a commit (`ann_index.refresh_vector_index`, `segments.sync_store`).
    A back end whose scores are exact inner products of rows it read from disk says so (`reads_rows`):
    hybrid fusion then reuses them."""

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def open_dense_search(index_dir: Path, manifest: dict, data: IndexView) -> tuple[np.ndarray, DenseSearch]:
    """(the chunk vectors, their dense search), both read by chunk row. The approximate index and
    Milvus read the vectors where they lie on disk; an exact scan holds them in memory."""
    store = index_store(manifest)
    if store is not None:
        segments = {d: r["segment"] for d, r in live_documents(manifest).items()}
        return data.chunk_vectors, StoreSearch(store, ChunkRows(data), segments)
    if manifest.get("vector_index", {}).get("type", "flat") != "flat":
        return data.chunk_vectors, AnnSearch(Path(index_dir), manifest, data.chunk_vectors)
    matrix = np.ascontiguousarray(data.chunk_vectors, dtype=np.float32)
    return matrix, ExactSearch(matrix)


class ChunkRows:
    """The chunk row of (doc_id, chunk index), from the index's arrays: a document's chunks are
    consecutive rows, in index order."""

    def __init__(self, data: IndexView) -> None:
        self._documents, self._table = data.documents, data.table
        counts = np.bincount(data.table.chunk_doc, minlength=len(data.documents))
        self._first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def __len__(self) -> int:
        return self._table.chunks

    def get(self, key: tuple[str, int]) -> int | None:
        doc_id, chunk = key
        if doc_id not in self._documents:
            return None
        row = int(self._first[self._documents.position(doc_id)]) + int(chunk)
        ok = row < self._table.chunks and self._table.chunk_index[row] == chunk and (
            self._documents.ids[self._table.chunk_doc[row]] == doc_id)
        return row if ok else None
