"""Which dense search an opened index uses: an exact scan of its chunk vectors in memory, its
approximate FAISS index (`embeddings.ann_index`), or its Milvus collection (`embeddings.vector_store`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embeddings.ann_index import AnnSearch, ExactSearch
from embeddings.segments import SegmentData, index_store, live_documents
from embeddings.vector_store import StoreSearch


def open_dense_search(index_dir: Path, manifest: dict, data: SegmentData):
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
