"""`groundqa index` on a folder it has seen: read only new and changed files, drop the ones gone.

A file is known by its doc_id, path, size and modification time (the index's file table). A file
whose size or time moved is read again and re-embedded only when its text changed (a new
segment); documents whose files vanished from the paths given, or became unusable, are deleted.
Documents that came from elsewhere (other folders, web uploads) are left alone. Nothing is
encoded, nor the model loaded, nor any segment opened, when nothing changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm.auto import tqdm

from corpus import Document, DocumentError, SourceFile, find_files, read_file
from corpus.errors import GroundQAError
from embeddings import IndexMismatchError, IndexNotFoundError, model_name, read_manifest
from embeddings.backends import DEFAULT_BACKEND, load_encoder
from embeddings.errors import IndexDamagedError
from embeddings.index_folder import read_checked_manifest
from embeddings.indexer import BATCH_CHARS, build_index, sentence_mode, update_index
from embeddings.lock import writer_lock
from embeddings.vector_store import FAISS, location, store_record
from embeddings.segments import live_documents, merge
from embeddings.ann_index import check_type, refresh_vector_index
from qa.knowledge_base import default_index_dir
from qa.retrieval import RetrievalSettings


@dataclass
class IndexReport:
    """What an `index_paths` run did, for its summary line."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    rebuilt: bool = False
    damaged: str = ""  # why the index there could not be updated and was rebuilt
    counts: dict = field(default_factory=dict)  # the index's documents and chunks after the run

    @property
    def modified(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt)


def index_paths(paths: Iterable[str | os.PathLike], *, index_dir: str | os.PathLike | None = None,
                rebuild: bool = False, optimize: bool = False, model: str | None = None, chunk_size: int = 200,
                chunk_overlap: int = 1, backend: str = DEFAULT_BACKEND, encoder=None, max_bytes: int | None = None,
                show_progress: bool = True, wait: bool = True, on_wait: Callable[[str], None] | None = None,
                on_skip: Callable[[str, str], None] | None = None, batch_chars: int = BATCH_CHARS,
                store: str | None = None, index_type: str | None = None) -> IndexReport:
    """Bring the index at `index_dir` up to date with the files under `paths` (or build it; a
    damaged index is rebuilt, and `report.damaged` says why).

    Only the manifest of an existing index is read: new and changed files become a new segment,
    gone ones deletions, so the cost follows the change, not the index. Files stream through
    reading, chunking and encoding `batch_chars` characters at a time. Unusable files are skipped,
    each told to `on_skip(path, reason)`; an index built with another model, chunking, encoder or
    format is rebuilt. `optimize` merges all segments into one afterwards. `encoder` replaces the
    model on `backend` (tests use a fake). `store` says where chunk vectors are searched
    (`vector_store.STORE_HELP`; None: the index's own, FAISS for a new one); another store than
    the index's rebuilds it. `index_type` is how chunk vectors are searched (`ann_index.INDEX_TYPES`;
    None: the index's own, "auto" for a new one); on FAISS changing it re-indexes no file (a Milvus collection is rebuilt).
    Raises DocumentError when no usable document remains.
    """
    paths = [Path(p) for p in paths]
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    report = IndexReport()
    wanted = None if store is None else store_record(store, index_dir)
    if index_type is not None:
        check_type(index_type)

    def skip(path, reason: str) -> None:
        report.skipped.append((str(path), reason))
        if on_skip is not None:
            on_skip(str(path), reason)

    files = find_files(paths, skip=skip)
    with writer_lock(index_dir, wait=wait, on_wait=on_wait):
        manifest = None if rebuild else _current(index_dir, model, chunk_size, chunk_overlap, backend, encoder, report)
        if wanted is None:  # keep the store of the index being rebuilt or updated
            existing = manifest.get("store") if manifest is not None else _existing_store(index_dir)
            wanted = location(existing) if existing is not None else None
        if manifest is not None and _other_store(manifest, wanted, index_type):
            manifest = None
        reading = tqdm(files, desc="Indexing", unit="file", disable=not show_progress or not files, leave=False)
        if manifest is None:
            encoder = encoder or load_encoder(model, backend=backend)
            table: dict[str, dict] = {}
            documents = _reading(reading, {}, {}, max_bytes, skip, table, report)
            try:
                manifest = build_index(index_dir, documents, encoder=encoder, chunk_size=chunk_size,
                                       chunk_overlap=chunk_overlap, retrieval=RetrievalSettings().to_dict(),
                                       files=table, show_progress=show_progress, batch_chars=batch_chars,
                                       store=wanted, index_type=index_type or "auto")
            except DocumentError:
                raise DocumentError(f"no usable documents in {', '.join(map(str, paths))}") from None
            report.rebuilt = True
        else:
            known, live = manifest.get("files", {}), live_documents(manifest)
            table = {doc_id: rec for doc_id, rec in known.items() if doc_id in live}
            dropped: set[str] = set()
            documents = _reading(reading, known, live, max_bytes, skip, table, report,
                                 roots=[str(p.resolve()) for p in paths], dropped=dropped)
            make = (lambda: encoder) if encoder is not None else (lambda: load_encoder(model, backend=backend))
            manifest = update_index(index_dir, manifest, documents, dropped, table, encoder=make,
                                    show_progress=show_progress, batch_chars=batch_chars)
        if optimize:
            manifest = merge(index_dir, manifest, [s["name"] for s in manifest["segments"]])
        manifest = refresh_vector_index(index_dir, manifest, index_type, force=optimize)
        report.counts = dict(manifest["counts"])
        return report


def optimize_index(index_dir: str | os.PathLike | None = None, *, wait: bool = True,
                   on_wait: Callable[[str], None] | None = None) -> tuple[int, dict]:
    """Merge every segment of the index into one (deleted rows dropped, nothing encoded); how many
    segments there were, and the index's counts."""
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    with writer_lock(index_dir, wait=wait, on_wait=on_wait):
        manifest = read_checked_manifest(index_dir)
        before = len(manifest["segments"])
        manifest = merge(index_dir, manifest, [s["name"] for s in manifest["segments"]])
        manifest = refresh_vector_index(index_dir, manifest, force=True)
        return before, dict(manifest["counts"])


def _other_store(manifest: dict, wanted: dict | None, index_type: str | None) -> bool:
    """Whether the index must be rebuilt for the store `wanted`, or for `index_type` in its Milvus
    collection (a FAISS index changes its type without re-encoding)."""
    have = manifest.get("store", {"kind": FAISS})
    if wanted is not None and location(have) != wanted:
        return True
    return have["kind"] != FAISS and index_type is not None and have.get("index_type") != index_type


def _existing_store(index_dir: Path) -> dict | None:
    """The store record of the index at `index_dir`, if one can be read there."""
    try:
        return read_manifest(index_dir).get("store")
    except GroundQAError:
        return None


def _current(index_dir: Path, model, chunk_size: int, chunk_overlap: int, backend: str, encoder,
             report: IndexReport) -> dict | None:
    """The manifest of the index there when an update can keep it: None when there is none, or it
    was built otherwise (model, chunking, encoder, format), or it is damaged (`report.damaged` says how)."""
    try:
        manifest = read_checked_manifest(index_dir)  # sizes only: a commit reads no segment
    except (IndexNotFoundError, IndexMismatchError):
        return None
    except IndexDamagedError as exc:
        report.damaged = str(exc)
        return None
    chunking, built_by = manifest["chunking"], manifest["encoder"]
    if encoder is not None:
        same = (encoder.name == manifest["model"]["name"] and encoder.dimension == manifest["model"]["dimension"]
                and (built_by["sentences"] != "pooled" or sentence_mode(encoder) == "pooled"))
    else:
        same = manifest["model"]["name"] == model_name(model) and built_by["backend"] == backend
    if not same or chunking["overlap"] != chunk_overlap or chunking.get("requested_max_tokens") != chunk_size:
        return None
    return manifest


def _reading(files: Iterable[SourceFile], known: dict[str, dict], live: dict[str, dict], max_bytes, skip,
             table: dict[str, dict], report: IndexReport, roots: list[str] = (),
             dropped: set[str] | None = None) -> Iterator[Document]:
    """The documents of the files that are new or changed since the file table `known` (every
    file's when it is empty), read one at a time. Records each file in `table` and `report`; once
    exhausted, adds to `dropped` the live documents whose files under `roots` are gone or unusable."""
    seen: set[str] = set()
    for file in files:
        record, old = _record(file), known.get(file.doc_id)
        if old == record and file.doc_id in live:
            seen.add(file.doc_id)
            report.unchanged += 1
            continue
        reason = _skipped_before(file, known)
        if reason is not None and file.doc_id not in live:
            skip(file.path, reason)
            table[file.doc_id] = old
            continue
        document = _read(file, max_bytes, skip, table)
        if document is None:
            continue
        seen.add(file.doc_id)
        table[file.doc_id] = record
        if file.doc_id in live and live[file.doc_id]["sha256"] == document.sha256:
            report.unchanged += 1  # touched, not changed
            continue
        (report.changed if file.doc_id in live else report.added).append(file.doc_id)
        yield document
    gone = {doc_id for doc_id, rec in known.items()
            if doc_id not in seen and doc_id in live and _under(rec["path"], roots)}
    for doc_id in gone:
        if "skipped" not in table.get(doc_id, {}):  # (a file that turned bad keeps its reason)
            table.pop(doc_id, None)
    report.removed = sorted(gone)
    if dropped is not None:
        dropped.update(gone)


def _read(file: SourceFile, max_bytes, skip, table: dict[str, dict]) -> Document | None:
    """The file's document; or None, said to `skip` and recorded in `table` with the reason, so
    that the same file unchanged is skipped again without being read."""
    try:
        return read_file(file, max_bytes=max_bytes)
    except DocumentError as exc:
        skip(file.path, str(exc))
        table[file.doc_id] = {**_record(file), "skipped": str(exc)}
        return None


def _record(file: SourceFile) -> dict:
    return {"path": file.resolved, "size": file.size, "mtime_ns": file.mtime_ns}


def _skipped_before(file: SourceFile, known: dict[str, dict]) -> str | None:
    """Why this file, unchanged since, was skipped last time (None if it was not)."""
    old = known.get(file.doc_id)
    if old is None or "skipped" not in old or {k: v for k, v in old.items() if k != "skipped"} != _record(file):
        return None
    return old["skipped"]


def _under(path: str, roots: list[str]) -> bool:
    """Whether the absolute `path` is one of `roots` or lies below one (as strings: an index may
    record 100,000 files, and Path objects would cost seconds here)."""
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)
