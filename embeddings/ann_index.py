"""Approximate dense search for large indexes: one FAISS HNSW or IVF-PQ file over the segments'
chunk vectors, beside the exact search that small indexes keep.

The file covers the segments live when it was built. Chunks of segments written since (the
"tail") are searched exactly and merged in; rows of documents deleted since are skipped. It is
rebuilt when the tail or the deleted rows outgrow a share of it, by `--optimize`, and by a build,
so an update still costs what it changes. Its record in the manifest names the file, its
checksum and the segments it covers, row counts included.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from embeddings.errors import IndexTypeError
from embeddings.index_folder import SEGMENTS, file_checksum
from embeddings.row_file import RowFile
from embeddings.segments import CHUNK_VECTORS, commit, live_counts
from embeddings.vector_store import FAISS

INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
# `auto` uses HNSW from this many chunks on; exact search below (a flat scan of 200k takes ~15 ms here).
AUTO_CHUNKS = 200_000
HNSW_M = 64
HNSW_EF_CONSTRUCTION = 240
# Graph degree and breadths, and how many candidates the search hands on to be scored exactly (at
# least this many times k), chosen at a million derived vectors on the SciFact claims the scale
# benchmark never asks (benchmarks/hnsw_params.py): M 64 / efConstruction 240 / efSearch 512 finds
# recall@10 0.989 in 1.3 ms, where M 48 / 160 found 0.982 at efSearch 768 in 1.5 ms and 0.984 at
# 896 in 1.8 ms; its graph takes 1.8x as long to build and ~0.13 KB more a vector. Rescoring 2x k
# (at least 20) finds what 4x (at least 40) does, with half the reads (benchmarks/hnsw_search_settings.py:
# recall@10 0.9844 on those claims with 10, 20, 30 or 40 candidates at least).
HNSW_EF_SEARCH = 512
HNSW_RERANK = 2
HNSW_MIN_CANDIDATES = 20
IVF_PROBES = 32
IVF_RERANK = 10  # IVF-PQ reads this many times k candidates, then scores them exactly
IVF_MIN_CHUNKS = 10_000  # fewer cannot train 256 codes per sub-vector (and need no compression)
# Rebuild the approximate index when the tail or the deleted rows pass this share of it (or TAIL_ROWS).
STALE_SHARE = 0.1
TAIL_ROWS = 20_000


def check_type(requested: str) -> str:
    if requested not in INDEX_TYPES:
        raise IndexTypeError(f"unknown index type {requested!r}: choose one of {', '.join(INDEX_TYPES)}")
    return requested


def resolved_type(requested: str, chunks: int) -> str:
    """The index type `requested` ("auto" or a type) means for an index of `chunks` chunks."""
    if check_type(requested) == "auto":
        return "hnsw" if chunks >= AUTO_CHUNKS else "flat"
    return requested


def segment_rows(segment: dict) -> int:
    """All rows of a segment's vector file, deleted documents' included."""
    return sum(info["chunks"] for info in segment["documents"].values())


def needs_rebuild(manifest: dict) -> bool:
    """Whether the approximate index is missing, of another type than wanted, or stale."""
    record = manifest.get("vector_index", {"requested": "auto", "type": "flat"})
    kind = resolved_type(record.get("requested", "auto"), manifest["counts"]["chunks"])
    if kind == "flat":
        return record.get("type", "flat") != "flat"
    if record.get("type") != kind:
        return True
    covered = dict(record["segments"])
    live = {s["name"]: s for s in manifest["segments"]}
    tail = sum(segment_rows(s) for name, s in live.items() if name not in covered)
    total = sum(covered.values())
    dead = total - sum(_live_rows(live[name]) for name in covered if name in live)
    return tail + dead > max(STALE_SHARE * total, TAIL_ROWS)


def _live_rows(segment: dict) -> int:
    return live_counts([segment])["chunks"]


def build(index_dir: Path, manifest: dict, requested: str) -> dict:
    """Build the approximate index `requested` means for this manifest into `index_dir`; its record.

    Reads each segment's vector file once; writes the FAISS file under a
    temporary name and renames it, so a reader never sees half of one.
    """
    import faiss

    kind = resolved_type(requested, manifest["counts"]["chunks"])
    if kind == "flat":
        return {"requested": requested, "type": "flat"}
    dimension = manifest["model"]["dimension"]
    # Read by positioned reads, not memory-mapped: a map's pages would count in the build's
    # resident memory (1.8 GB of them at a million chunks) until it ends.
    parts = [(s["name"], RowFile(Path(index_dir) / SEGMENTS / s["name"] / CHUNK_VECTORS))
             for s in manifest["segments"]]
    total = sum(len(v) for _, v in parts)
    if kind == "ivfpq" and total < IVF_MIN_CHUNKS:
        raise IndexTypeError(f"an ivfpq index needs at least {IVF_MIN_CHUNKS:,} chunks (this one has {total:,}): "
                             "use --index-type hnsw or flat")
    rng = np.random.default_rng(0)
    sample = np.vstack([np.asarray(v[np.sort(rng.choice(len(v), min(len(v), max(1, 100_000 * len(v) // total)),
                                                     replace=False))], dtype=np.float32) for _, v in parts if len(v)])
    if kind == "hnsw":
        # 8-bit codes in the graph (a quarter of float32's memory); hits are scored exactly after.
        index = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.train(sample)
    else:
        lists = int(max(16, min(4 * np.sqrt(total), total // 39)))
        index = faiss.index_factory(dimension, f"IVF{lists},PQ{dimension // 8}", faiss.METRIC_INNER_PRODUCT)
        index.train(sample)
    del sample
    for _, vectors in parts:
        for start in range(0, len(vectors), 50_000):
            index.add(np.ascontiguousarray(vectors[start:start + 50_000], dtype=np.float32))
    name = f"ann-{uuid.uuid4().hex[:12]}.faiss"
    tmp = Path(index_dir) / f".{name}.writing"
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.rename(tmp, Path(index_dir) / name)
    return {"requested": requested, "type": kind, "file": name,
            "files": {name: file_checksum(Path(index_dir) / name)},
            "segments": [[s_name, len(v)] for s_name, v in parts]}


class ExactSearch:
    """Exact dense search by inner product over the chunk vectors in memory (no copy of them)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self._matrix = matrix

    def __len__(self) -> int:
        return len(self._matrix)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self._matrix @ np.asarray(query, dtype=np.float32)
        k = min(k, len(scores))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        order = part[np.lexsort((part, -scores[part]))]
        return scores[order], order.astype(np.int64)


class AnnSearch:
    """Dense search through the approximate index, plus an exact scan of the tail, as
    `ExactSearch.search` gives it: (scores, chunk rows), best first. Its scores are exact, from
    rows it read from disk (`reads_rows`): a caller needing them again should not read them again."""

    reads_rows = True

    def __init__(self, index_dir: Path, manifest: dict, matrix: np.ndarray) -> None:
        import faiss

        record = manifest["vector_index"]
        self.type = record["type"]
        self._index = faiss.read_index(str(Path(index_dir) / record["file"]))
        self._matrix = matrix
        self._ids = np.full(self._index.ntotal, -1, dtype=np.int64)  # approximate-index id -> chunk row
        offsets, row = {}, 0
        for segment in manifest["segments"]:
            offsets[segment["name"]] = row
            row += _live_rows(segment)
        live = {s["name"]: s for s in manifest["segments"]}
        base, covered = 0, set()
        for name, rows in record["segments"]:
            if name in live:
                covered.add(name)
                self._ids[base:base + rows] = _file_to_live(live[name], offsets[name])[:rows]
            base += rows
        tail = [np.arange(offsets[s["name"]], offsets[s["name"]] + _live_rows(s))
                for s in manifest["segments"] if s["name"] not in covered]
        self._tail = np.concatenate(tail) if tail else np.zeros(0, dtype=np.int64)
        self._tail_matrix = np.ascontiguousarray(matrix[self._tail] if len(self._tail) else np.zeros((0, 0)),
                                                 dtype=np.float32)
        self._dead = int(np.sum(self._ids < 0))
        self._rows = row

    def __len__(self) -> int:
        return self._rows

    def _approximate(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        ask = min(self._index.ntotal, k + min(self._dead, 4 * k))
        if self.type == "hnsw":
            fetch = min(self._index.ntotal, max(HNSW_RERANK * ask, HNSW_MIN_CANDIDATES))
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, fetch))
            _, ids = self._index.search(q, fetch, params=params)
        else:
            params = faiss.SearchParametersIVF(nprobe=IVF_PROBES)
            _, ids = self._index.search(q, min(self._index.ntotal, IVF_RERANK * ask), params=params)
        rows = self._ids[ids[0][ids[0] >= 0]]
        rows = rows[rows >= 0]
        scores = np.asarray(self._matrix[rows], dtype=np.float32) @ q[0]  # exact, as a flat scan gives them
        return scores, rows

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self._approximate(query, k)
        if len(self._tail):
            tail_scores = self._tail_matrix @ np.asarray(query, dtype=np.float32)
            scores, rows = np.concatenate([scores, tail_scores]), np.concatenate([rows, self._tail])
        order = np.lexsort((rows, -scores))[:k]
        return scores[order], rows[order]


def _file_to_live(segment: dict, offset: int) -> np.ndarray:
    """For each row of a segment's vector file, its chunk row in the opened index (-1: deleted)."""
    deleted = set(segment["deleted"])
    out, row = [], offset
    for doc, info in segment["documents"].items():
        n = info["chunks"]
        if doc in deleted:
            out.append(np.full(n, -1, dtype=np.int64))
        else:
            out.append(np.arange(row, row + n, dtype=np.int64))
            row += n
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def refresh_vector_index(index_dir: Path, manifest: dict, requested: str | None = None, *,
                         force: bool = False) -> dict:
    """After a commit: (re)build the approximate vector index when the type `requested` (default:
    the index's own, "auto" at first) wants one and it is missing, stale or of another type, or
    when `force`; commit its record. An index searched in Milvus has none (Milvus indexes itself)."""
    record = manifest.get("vector_index", {"requested": "auto", "type": "flat"})
    requested = check_type(requested or record.get("requested", "auto"))
    if manifest.get("store", {"kind": FAISS})["kind"] != FAISS:
        return manifest  # Milvus indexes its collection as the store record says
    wanted = {**manifest, "vector_index": {**record, "requested": requested}}
    if not needs_rebuild(wanted) and not (force and record.get("type", "flat") != "flat"):
        if record.get("requested", "auto") == requested:
            return manifest
        new = {**record, "requested": requested}
    else:
        new = build(Path(index_dir), manifest, requested)
    return commit(index_dir, {**manifest, "vector_index": new}, manifest["segments"], manifest.get("files", {}))
