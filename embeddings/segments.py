"""Index segments: immutable folders, each holding some documents whole, and the commits that list them.

A segment keeps its documents' text and chunk offsets (SQLite), chunk and sentence vectors, window
vectors and BM25 term counts. It is written once, under a temporary name, then renamed into
`segments/`; it is never changed after. The manifest lists the live segments and, for each, the
documents deleted from it since (a changed file is a deletion plus a new segment). Opening an index
reads the live rows of every segment into one view; merging rewrites a few segments as one,
without encoding anything again (Lucene's segments and commit points are the model).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection, Sequence, TypeVar

import numpy as np

from corpus import Chunk, Document
from embeddings.document_shelf import write_text_index
from embeddings.errors import IndexDamagedError
from embeddings.index_folder import (
    MANIFEST, SEGMENTS, damaged, file_checksums, read_manifest, read_store, read_titles, verify_files, write_manifest,
    write_store,
)
from embeddings.lexical_index import Postings, TermCounts, write_postings
from embeddings.row_blocks import RowBlocks
from embeddings.row_file import RowFile, save_rows
from embeddings.row_table import TABLE, RowTable, sentence_table
from embeddings.vector_store import FAISS, MilvusStore

CHUNK_VECTORS = "chunks.npy"
SENTENCE_VECTORS = "sentences.npy"
WINDOWS = "windows.npy"
WINDOW_OFFSETS = "window_offsets.npy"
# Segments of fewer chunks than this are small (what updates write); more than MAX_SEGMENTS small
# ones after a commit are merged into one.
SMALL_CHUNKS = 1_000
MAX_SEGMENTS = 10
# As batches are written, and after a commit, each run of MERGE_FACTOR adjacent segments of one size
# tier (a power of ten of chunks) is merged, up to MAX_MERGED_CHUNKS: a million chunks make ~30
# segments, not ~300, each ~10 open files and a slice per question term in BM25. Only --optimize
# merges more, so a merge costs what it merges, never what the index holds. Vectors are copied
# file to file: a merge holds only the documents, chunks and term counts of the rows it merges.
MERGE_FACTOR = 10
MAX_MERGED_CHUNKS = 100_000
T = TypeVar("T")


@dataclass(frozen=True)
class SegmentData:
    """The rows of one segment (or of several, concatenated): documents, chunks, their vectors and counts.

    Sentence rows are `sentence_table(chunks)`; sentence i's windows are
    `windows[window_offsets[i]:window_offsets[i + 1]]`.
    """

    documents: list[Document]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    windows: np.ndarray
    window_offsets: np.ndarray
    terms: TermCounts

    def live(self, deleted: Collection[str]) -> "SegmentData":
        """These rows without the documents in `deleted`."""
        if not deleted:
            return self
        deleted = set(deleted)
        keep_chunks = np.array([c.doc_id not in deleted for c in self.chunks], dtype=bool)
        spans, _ = sentence_table(self.chunks)
        keep_sentences = np.array([doc_id not in deleted for doc_id, _, _ in spans], dtype=bool)
        rows, offsets = window_rows(self.window_offsets, keep_sentences)
        return SegmentData([d for d in self.documents if d.doc_id not in deleted],
                           [c for c, keep in zip(self.chunks, keep_chunks) if keep],
                           self.chunk_vectors[keep_chunks], self.sentence_vectors[keep_sentences],
                           self.windows[rows], offsets, self.terms.rows(keep_chunks))

    @classmethod
    def concat(cls, parts: Sequence["SegmentData"], dimension: int) -> "SegmentData":
        """All `parts`' rows, in order. Vectors are not copied together (`RowBlocks`): they are
        the largest part of an index and mostly stay on disk."""
        if len(parts) == 1:
            return parts[0]
        offsets, shift = [np.zeros(1, dtype=np.int64)], 0
        for p in parts:
            offsets.append(np.asarray(p.window_offsets[1:]) + shift)
            shift += len(p.windows)
        empty = np.zeros((0, dimension), dtype=np.float32)
        return cls([d for p in parts for d in p.documents], [c for p in parts for c in p.chunks],
                   RowBlocks([empty] + [p.chunk_vectors for p in parts]),
                   RowBlocks([empty.astype(np.float16)] + [p.sentence_vectors for p in parts]),
                   RowBlocks([empty.astype(np.float16)] + [p.windows for p in parts]),
                   np.concatenate(offsets), TermCounts.stack([p.terms for p in parts]))


def pack_windows(windows: Sequence[np.ndarray], dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Each sentence's window vectors as one float16 array and offsets (sentence i: rows offsets[i]:offsets[i+1])."""
    sizes = np.array([len(w) for w in windows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rows = np.vstack([np.zeros((0, dimension), dtype=np.float32), *windows]).astype(np.float16)
    return rows, offsets


def window_rows(offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window rows of the sentences `keep` marks, and their offsets once only those are kept."""
    sizes = np.diff(offsets)[keep]
    starts = offsets[:-1][keep]
    new_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return np.repeat(starts - new_offsets[:-1], sizes) + np.arange(new_offsets[-1]), new_offsets


# ----- on disk --------------------------------------------------------------------------------
def write_segment(segments_dir: Path, data: SegmentData) -> dict:
    """Write `data` as a new segment folder under `segments_dir`; its record for the manifest."""
    name = f"seg-{uuid.uuid4().hex[:12]}"
    tmp = Path(segments_dir) / f".{name}.writing"
    tmp.mkdir(parents=True)
    write_store(tmp, data.documents, data.chunks)
    for file, array, dtype in ((CHUNK_VECTORS, data.chunk_vectors, np.float32),
                               (SENTENCE_VECTORS, data.sentence_vectors, np.float16),
                               (WINDOWS, data.windows, np.float16), (WINDOW_OFFSETS, data.window_offsets, np.int64)):
        save_rows(tmp / file, array, dtype)
    write_postings(tmp, data.terms)
    RowTable.of_chunks([d.doc_id for d in data.documents], data.chunks).save(tmp / TABLE)
    write_text_index(tmp, data.documents)
    files = file_checksums(tmp)
    os.rename(tmp, Path(segments_dir) / name)
    return {"name": name, "documents": _document_records(data), "deleted": [], "files": files}


def _document_records(data: SegmentData) -> dict[str, dict]:
    """What a commit must know of each document without opening the segment: hash and row counts."""
    records = {d.doc_id: {"sha256": d.sha256, "chunks": 0, "sentences": 0, "windows": 0} for d in data.documents}
    for chunk in data.chunks:
        records[chunk.doc_id]["chunks"] += 1
    spans, _ = sentence_table(data.chunks)
    sizes = np.diff(data.window_offsets).tolist()
    for (doc_id, _, _), size in zip(spans, sizes):
        records[doc_id]["sentences"] += 1
        records[doc_id]["windows"] += size
    return records


def read_segment(index_dir: Path, record: dict) -> SegmentData:
    """The live rows of the segment `record` names (its deleted documents left out)."""
    folder = Path(index_dir) / SEGMENTS / record["name"]
    documents, chunks = read_store(folder)
    # Vectors are read by row when used (`RowFile`): an index is never copied whole into memory.
    vectors = [RowFile(folder / name) for name in (CHUNK_VECTORS, SENTENCE_VECTORS, WINDOWS)]
    offsets = np.load(folder / WINDOW_OFFSETS, allow_pickle=False)
    data = SegmentData(documents, chunks, *vectors, offsets, Postings.open(folder).to_counts())
    return data.live(record["deleted"])


def load_segments(index_dir: Path, manifest: dict) -> tuple[SegmentData, dict]:
    """Every live row of the index, checked against the manifest's checksums; and the manifest read."""
    def read_all(manifest: dict) -> SegmentData:
        data = SegmentData.concat([read_segment(index_dir, record) for record in manifest["segments"]],
                                  manifest["model"]["dimension"])
        check_counts(index_dir, manifest, {"documents": len(data.documents), "chunks": len(data.chunks),
                                           "sentences": len(data.sentence_vectors),
                                           "sentence_windows": len(data.windows)},
                     len(data.chunk_vectors) == len(data.chunks) and len(data.terms) == len(data.chunks)
                     and len(data.window_offsets) == len(data.sentence_vectors) + 1)
        return data

    return read_consistently(Path(index_dir), manifest, read_all)


def read_consistently(index_dir: Path, manifest: dict, read_all: Callable[[dict], T]) -> tuple[T, dict]:
    """`read_all(manifest)` after checking the files it lists; and the manifest read. A writer may
    commit (and remove merged segments) while this reads: then the newer manifest is read."""
    _room_for_files(10 * len(manifest["segments"]) + 256)
    for attempt in range(3):
        try:
            verify_files(index_dir, manifest)
            return read_all(manifest), manifest
        except (IndexDamagedError, OSError, RuntimeError, ValueError, KeyError, EOFError, sqlite3.Error,
                zipfile.BadZipFile) as exc:
            newer = read_manifest(index_dir)
            if attempt < 2 and newer["index_id"] != manifest["index_id"]:
                manifest = newer
                continue
            if isinstance(exc, IndexDamagedError):
                raise
            raise damaged(index_dir, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    raise AssertionError("unreachable")


def _room_for_files(needed: int) -> None:
    """Raise this process's open-file limit toward `needed` (each segment keeps its vector files,
    store and postings open), within the hard limit the system allows."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard))


def check_counts(index_dir: Path, manifest: dict, found: dict[str, int], consistent: bool = True) -> None:
    """Raise IndexDamagedError unless the rows `found` are the manifest's counts (and `consistent`)."""
    counts = manifest["counts"]
    if found != {k: counts.get(k) for k in found} or not consistent:
        raise IndexDamagedError(f"the index at {index_dir} is inconsistent (found {found}, the manifest says "
                                f"{counts}): rebuild it with `groundqa index PATH... --rebuild`")


def list_documents(index_dir: Path, manifest: dict) -> list[dict]:
    """doc_id, source, title and length of every live document, in index order, read from the
    segments' stores alone (no vectors, no chunks): `show --list` on a large index stays quick."""
    out = []
    for segment in manifest["segments"]:
        deleted = set(segment["deleted"])
        try:
            rows = read_titles(Path(index_dir) / SEGMENTS / segment["name"])
        except sqlite3.Error as exc:
            raise damaged(index_dir, str(exc)) from exc
        out.extend({"doc_id": d, "source": s, "title": t, "chars": n} for d, s, t, n in rows if d not in deleted)
    return out


# ----- commits --------------------------------------------------------------------------------
def live_records(segment: dict) -> dict[str, dict]:
    """The records (sha256 and row counts) of the documents of `segment` not deleted from it."""
    deleted = set(segment["deleted"])
    return {doc_id: info for doc_id, info in segment["documents"].items() if doc_id not in deleted}


def live_documents(manifest: dict) -> dict[str, dict]:
    """Every live document's record, with the name of its segment, in index order."""
    return {doc_id: {**info, "segment": segment["name"]}
            for segment in manifest["segments"] for doc_id, info in live_records(segment).items()}


def with_deletions(segments: Sequence[dict], doc_ids: Collection[str]) -> list[dict]:
    """The segment records with `doc_ids` deleted; a segment left with no live document is dropped."""
    out, doc_ids = [], set(doc_ids)
    for segment in segments:
        deleted = sorted(set(segment["deleted"]) | {d for d in doc_ids if d in segment["documents"]})
        if len(deleted) < len(segment["documents"]):
            out.append({**segment, "deleted": deleted})
    return out


def live_counts(segments: Sequence[dict]) -> dict[str, int]:
    """Documents, chunks, sentences and windows of the live documents of `segments`."""
    docs = [info for s in segments for info in live_records(s).values()]
    return {"documents": len(docs), "chunks": sum(d["chunks"] for d in docs),
            "sentences": sum(d["sentences"] for d in docs), "sentence_windows": sum(d["windows"] for d in docs)}


def commit(index_dir: Path, manifest: dict, segments: list[dict], files: dict[str, dict]) -> dict:
    """Swap in a manifest listing `segments` (and the file table `files`), then remove segment
    folders no longer listed. The caller holds the writer lock. Returns the new manifest."""
    present = {doc_id for s in segments for doc_id in live_records(s)}
    new = {**manifest, "index_id": uuid.uuid4().hex,
           "committed": datetime.now(timezone.utc).isoformat(timespec="seconds"), "segments": segments,
           "counts": live_counts(segments),
           "files": {doc_id: f for doc_id, f in sorted(files.items()) if doc_id in present or "skipped" in f}}
    sync_store(Path(index_dir), new, delete=False)  # the new segments' vectors in before they are listed
    write_manifest(Path(index_dir), new)
    remove_unlisted(Path(index_dir), new)
    sync_store(Path(index_dir), new, delete=True)   # deleted and merged-away rows out after
    return new


def index_store(manifest: dict, *, create: bool = False) -> MilvusStore | None:
    """The Milvus store the manifest names, or None for FAISS. Writers `create` its collection
    when missing; for a reader a missing collection is an error."""
    record = manifest.get("store", {"kind": FAISS})
    if record["kind"] == FAISS:
        return None
    store = MilvusStore(record, manifest["model"]["dimension"])
    store.ensure_collection(create=create)
    return store


def sync_store(index_dir: Path, manifest: dict, *, delete: bool) -> None:
    """Make an external vector store hold the live chunks of `manifest`'s segments: insert every
    segment it lacks; with `delete`, also remove rows of unlisted segments and deleted documents.
    Idempotent, so a writer killed half-way leaves nothing the next commit does not mend."""
    store = index_store(manifest, create=True)
    if store is None:
        return
    if delete:
        store.keep_segments([s["name"] for s in manifest["segments"]])
    for segment in manifest["segments"]:
        have, live = store.count(segment["name"]), live_counts([segment])["chunks"]
        if have == live:
            continue
        if have and delete and segment["deleted"]:
            store.delete_documents(segment["name"], segment["deleted"])
            have = store.count(segment["name"])
        if have == 0 or (delete and have != live):
            if have:
                store.delete_segment(segment["name"])
            data = read_segment(index_dir, segment)
            store.insert(segment["name"], [c.doc_id for c in data.chunks], [c.index for c in data.chunks],
                         data.chunk_vectors)


def remove_unlisted(index_dir: Path, manifest: dict) -> None:
    """Remove what no commit lists: segment folders merged away or left by a killed writer,
    manifests never swapped in, and approximate vector indexes replaced or half-written.
    The caller holds the writer lock."""
    listed = {s["name"] for s in manifest["segments"]}
    folder = index_dir / SEGMENTS
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name not in listed:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    for path in index_dir.glob(f".{MANIFEST}.*"):
        path.unlink(missing_ok=True)
    wanted = set(manifest.get("vector_index", {}).get("files", {}))
    for path in [*index_dir.glob("ann-*.faiss"), *index_dir.glob(".ann-*.writing")]:
        if path.name not in wanted:
            path.unlink(missing_ok=True)


def merge(index_dir: Path, manifest: dict, names: Collection[str]) -> dict:
    """Rewrite the segments `names` as one, their deleted rows dropped, and commit it in the first
    one's place. Nothing is encoded again. The caller holds the writer lock."""
    names = set(names)
    chosen = [s for s in manifest["segments"] if s["name"] in names]
    if len(chosen) < 2 and not any(s["deleted"] for s in chosen):
        return manifest
    record = write_merged(index_dir, chosen, manifest["model"]["dimension"])
    segments, placed = [], False
    for s in manifest["segments"]:
        if s["name"] not in names:
            segments.append(s)
        elif not placed:
            segments.append(record)
            placed = True
    return commit(index_dir, manifest, segments, manifest.get("files", {}))


def write_merged(index_dir: Path, records: Sequence[dict], dimension: int) -> dict:
    """A new segment of the live rows of the segments `records`, in order, nothing encoded again; its record."""
    return write_segment(Path(index_dir) / SEGMENTS,
                         SegmentData.concat([read_segment(index_dir, r) for r in records], dimension))


def merge_committed(index_dir: Path, manifest: dict) -> dict:
    """After a commit: merge the small segments into one when there are more than MAX_SEGMENTS,
    then each run of adjacent segments `tier_run` finds among those the approximate vector index
    does not cover (merging those would send its rows to be scanned exactly until it is rebuilt)."""
    small = [s["name"] for s in manifest["segments"] if live_counts([s])["chunks"] < SMALL_CHUNKS]
    if len(small) > MAX_SEGMENTS:
        manifest = merge(index_dir, manifest, small)
    covered = {name for name, _ in manifest.get("vector_index", {}).get("segments", [])}
    while run := tier_run(manifest["segments"], skip=covered):
        manifest = merge(index_dir, manifest, [s["name"] for s in run])
    return manifest


def merge_written(segments_dir: Path, records: list[dict], dimension: int) -> list[dict]:
    """`records` (segments written, not yet committed, in order) with each `tier_run` of them merged
    into one, the folders merged away removed. Called after each write, sizes grow tier by tier."""
    while run := tier_run(records):
        merged = write_merged(segments_dir.parent, run, dimension)
        for r in run:
            shutil.rmtree(segments_dir / r["name"])
        at = records.index(run[0])
        records = records[:at] + [merged] + records[at + len(run):]
    return records


def tier_run(segments: Sequence[dict], skip: Collection[str] = ()) -> list[dict]:
    """The first MERGE_FACTOR adjacent `segments`, none named in `skip`, whose live chunks have as
    many digits (one size tier) and sum to at most MAX_MERGED_CHUNKS; [] when there is none."""
    sizes = [live_counts([s])["chunks"] if s["name"] not in skip else -1 for s in segments]
    for i in range(len(segments) - MERGE_FACTOR + 1):
        window = sizes[i:i + MERGE_FACTOR]
        if min(window) >= 0 and len({len(str(n)) for n in window}) == 1 and sum(window) <= MAX_MERGED_CHUNKS:
            return list(segments[i:i + MERGE_FACTOR])
    return []
