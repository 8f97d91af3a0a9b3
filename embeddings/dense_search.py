"""Which dense search an opened index uses: an exact scan of its chunk vectors in memory, its
approximate FAISS index (`embeddings.ann_index`), or its Milvus collection (`embeddings.vector_store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from embeddings.ann_index import AnnSearch, ExactSearch
from embeddings.segments import SegmentData, index_store, live_documents
from embeddings.vector_store import StoreSearch


class DenseSearch(Protocol):
    """What `KnowledgeBase` sees of every back end: the live chunks' count, and their `k` nearest
    to a query vector as (inner products, chunk rows), best first, equal scores by row.
    Writing is each back end's part of a commit (`ann_index.refresh_vector_index`, `segments.sync_store`)."""

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def open_dense_search(index_dir: Path, manifest: dict, data: SegmentData) -> tuple[np.ndarray, DenseSearch]:
    """(the chunk vectors, their dense search), both read by chunk row. The approximate index and
    Milvus read the vectors where they lie on disk; an exact scan holds them in memory."""
    store = index_store(manifest)
    if store is not None:
        segments = {d: r["segment"] for d, r in live_documents(manifest).items()}
        return data.chunk_vectors, StoreSearch(store, data.chunks, segments)
    if manifest.get("vector_index", {}).get("type", "flat") != "flat":
        return data.chunk_vectors, AnnSearch(Path(index_dir), manifest, data.chunk_vectors)
    matrix = np.ascontiguousarray(data.chunk_vectors, dtype=np.float32)
    return matrix, ExactSearch(matrix)
