"""Where chunk vectors are searched: FAISS inside the process (the default), or a Milvus collection
(Milvus Lite in a local file, or a Milvus server) kept equal to the index's live chunks.

The index folder stays the source of truth: documents, chunks, sentence vectors, windows and BM25
term counts live in its segments, and so do the chunk vectors. A Milvus store holds a copy of
the chunk vectors to search, one row per live chunk, keyed by (segment, doc_id, chunk number).
Every commit syncs it: a new segment's rows go in before the manifest lists it, and rows of
deleted documents and merged-away segments come out after, so a reader holding either manifest
finds every chunk it knows; rows it does not know (other segments, deleted documents) it drops.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from embeddings.errors import StoreError

FAISS = "faiss"
MILVUS = "milvus"
# Seconds a Milvus call may take before the command gives up with one line (never a hang).
TIMEOUT = 10.0
INSERT_ROWS = 2_000
MAX_LIMIT = 16_384  # the most results one Milvus search returns
_URL = re.compile(r"^milvus://(?P<host>[^:/]+)(?::(?P<port>\d+))?/(?P<collection>[A-Za-z_][A-Za-z0-9_]*)$")
STORE_HELP = "faiss (default), milvus-lite:PATH (an embedded Milvus Lite file) or milvus://HOST:PORT/COLLECTION"


def store_record(spec: str | None, index_dir: Path) -> dict:
    """The manifest's record of the store `spec` names (`STORE_HELP`) for the index at `index_dir`."""
    if spec in (None, "", FAISS):
        return {"kind": FAISS}
    if spec.startswith("milvus-lite:"):
        path = spec[len("milvus-lite:"):]
        if not path:
            raise StoreError("--store milvus-lite:PATH needs a file path, e.g. milvus-lite:./kb.db")
        uri = str(Path(path).expanduser().resolve())
        if not uri.endswith(".db"):
            raise StoreError(f"a Milvus Lite file must end in .db, not {path!r}")
        # One Lite file may serve several indexes: each gets a collection named after its folder.
        digest = hashlib.sha256(str(Path(index_dir).resolve()).encode()).hexdigest()[:16]
        return {"kind": MILVUS, "uri": uri, "collection": f"groundqa_{digest}"}
    match = _URL.match(spec)
    if match is None:
        raise StoreError(f"unknown store {spec!r}: use {STORE_HELP}")
    return {"kind": MILVUS, "uri": f"http://{match['host']}:{match['port'] or 19530}",
            "collection": match["collection"]}


def location(record: dict | None) -> dict:
    """Where a store record points (kind, uri, collection), without how its collection is indexed:
    what `store_record` gives, and what a change of store compares."""
    return {k: v for k, v in (record or {"kind": FAISS}).items() if k != "index_type"}


def milvus_index(index_type: str, *, lite: bool) -> tuple[str, dict]:
    """Milvus' index type and build parameters for groundqa's `--index-type`: exact for flat (and
    for auto on Milvus Lite, a one-machine file), HNSW and IVF-PQ as FAISS builds them, and
    Milvus' own choice (AUTOINDEX) for auto on a server."""
    if index_type == "hnsw":
        return "HNSW", {"M": 48, "efConstruction": 160}
    if index_type == "ivfpq":
        return "IVF_PQ", {"nlist": 1024, "m": 48, "nbits": 8}
    if index_type == "auto" and not lite:
        return "AUTOINDEX", {}
    return "FLAT", {}


def describe(record: dict) -> str:
    """The store as a person would name it in a message."""
    if record.get("kind", FAISS) == FAISS:
        return FAISS
    return f"Milvus collection {record['collection']} at {record['uri']}"


@lru_cache(maxsize=8)
def _client(uri: str, timeout: float):
    """One client per server or Lite file and process: Milvus Lite lets one process open a file,
    any number of times from that process."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise StoreError("a Milvus store needs pymilvus (and milvus-lite for a local file): "
                         "pip install pymilvus milvus-lite") from exc
    import logging

    # pymilvus and Milvus Lite log each failure with its traceback, and Lite's gRPC server the calls it
    # does not implement (pymilvus falls back); our one line says what failed instead.
    for name in ("pymilvus", "grpc._server", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - pymilvus raises many kinds; one clear line for all
        hint = (" (is another process, e.g. a running `groundqa serve`, using that file? Milvus Lite "
                "opens a file in one process at a time)" if not uri.startswith("http") else "")
        raise StoreError(f"cannot reach Milvus at {uri}: {_one_line(exc)}{hint}") from exc


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _listed(values: Sequence[str]) -> str:
    return "[" + ", ".join(_quoted(v) for v in values) + "]"


@dataclass(frozen=True)
class Hit:
    """One Milvus search result: which chunk of which segment, and its inner product with the query."""

    segment: str
    doc_id: str
    chunk: int
    score: float


class MilvusStore:
    """The Milvus collection of one index: its live chunks' vectors, searched by inner product."""

    def __init__(self, record: dict, dimension: int, *, timeout: float = TIMEOUT) -> None:
        self.record = record
        self.collection = record["collection"]
        self.dimension = dimension
        self.timeout = timeout
        self._client = _client(record["uri"], timeout)
        self._kind = milvus_index(record.get("index_type", "auto"), lite=not record["uri"].startswith("http"))[0]

    def _call(self, what: str, method: str, *args, **kwargs):
        try:
            return getattr(self._client, method)(*args, timeout=self.timeout, **kwargs)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear line for every client or server error
            raise StoreError(f"{what} failed on {describe(self.record)}: {_one_line(exc)}") from exc

    def ensure_collection(self, *, create: bool = True) -> None:
        """Load the collection for search; when it is missing, create it (auto ids, the row's key
        fields and its vector, indexed as `milvus_index` says), or with `create=False` refuse."""
        if self._call("checking the collection", "has_collection", self.collection):
            self._call("loading the collection", "load_collection", self.collection)
            return
        if not create:
            raise StoreError(f"{describe(self.record)} does not exist (dropped, or another server?): rebuild "
                             f"the index with `groundqa index PATH... --rebuild`")
        from pymilvus import DataType

        schema = self._client.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("segment", DataType.VARCHAR, max_length=64)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=8192)
        schema.add_field("chunk", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        index = self._client.prepare_index_params()
        kind, params = milvus_index(self.record.get("index_type", "auto"), lite=not self.record["uri"].startswith("http"))
        index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
        self._call("creating the collection", "create_collection", self.collection, schema=schema,
                   index_params=index, consistency_level="Strong")

    def count(self, segment: str) -> int:
        rows = self._call("counting rows", "query", self.collection, filter=f"segment == {_quoted(segment)}",
                          output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def insert(self, segment: str, doc_ids: Sequence[str], chunks: Sequence[int], vectors: np.ndarray) -> None:
        for start in range(0, len(doc_ids), INSERT_ROWS):
            end = start + INSERT_ROWS
            rows = [{"segment": segment, "doc_id": d, "chunk": int(c), "vector": v}
                    for d, c, v in zip(doc_ids[start:end], chunks[start:end],
                                       np.asarray(vectors[start:end], dtype=np.float32).tolist())]
            self._call("inserting vectors", "insert", self.collection, rows)

    def delete_documents(self, segment: str, doc_ids: Sequence[str]) -> None:
        for start in range(0, len(doc_ids), 500):
            self._call("deleting vectors", "delete", self.collection,
                       filter=f"segment == {_quoted(segment)} and doc_id in {_listed(doc_ids[start:start + 500])}")

    def delete_segment(self, segment: str) -> None:
        self._call("deleting vectors", "delete", self.collection, filter=f"segment == {_quoted(segment)}")

    def keep_segments(self, names: Sequence[str]) -> None:
        """Delete the rows of every segment not in `names` (merged away, or left by a killed writer)."""
        self._call("deleting vectors", "delete", self.collection, filter=f"segment not in {_listed(names)}")

    def search(self, query: np.ndarray, k: int) -> list[Hit]:
        if k <= 0:
            return []
        params = {"ef": max(768, 4 * int(k))} if self._kind == "HNSW" else {"nprobe": 32} if self._kind == "IVF_PQ" else {}
        found = self._call("searching", "search", self.collection,
                           data=[np.asarray(query, dtype=np.float32).tolist()], limit=int(k),
                           output_fields=["segment", "doc_id", "chunk"],
                           search_params={"metric_type": "IP", "params": params})
        return [Hit(h["entity"]["segment"], h["entity"]["doc_id"], int(h["entity"]["chunk"]), float(h["distance"]))
                for h in found[0]]

    def clear(self) -> None:
        """Delete every row, keeping the collection (its schema, index and shards) as it is."""
        self._call("deleting vectors", "delete", self.collection, filter='segment != ""')

    def drop(self) -> None:
        if self._call("checking the collection", "has_collection", self.collection):
            self._call("dropping the collection", "drop_collection", self.collection)


class StoreSearch:
    """Dense search of an index's live chunks in a Milvus store, as `ExactSearch.search` gives it:
    (scores, chunk rows). Rows of documents or segments this reader does not hold are dropped."""

    def __init__(self, store: MilvusStore, rows: Mapping[tuple[str, int], int], segment_of: dict[str, str]) -> None:
        self._store = store
        self._rows = rows  # (doc_id, chunk index) -> chunk row: `.get` and `len` are used
        self._segment_of = segment_of

    def __len__(self) -> int:
        return len(self._rows)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        want = min(k, len(self._rows))
        ask = want
        while True:
            hits = self._store.search(query, ask)
            found = []
            for hit in hits:
                row = self._rows.get((hit.doc_id, hit.chunk))
                if row is not None and self._segment_of.get(hit.doc_id) == hit.segment:
                    found.append((-hit.score, row))
            # Rows of a commit this reader does not know took places: ask deeper (rare, and brief).
            if len(found) >= want or len(hits) < ask or ask >= MAX_LIMIT:
                break
            ask = min(2 * ask + 16, MAX_LIMIT)
        found = sorted(found)[:want]  # equal scores by row, as FAISS orders them
        return (np.array([-s for s, _ in found], dtype=np.float32).reshape(-1),
                np.array([r for _, r in found], dtype=np.int64).reshape(-1))
