"""`groundqa index` on a folder it has seen: read only new and changed files, drop the ones gone.

A file is known by its doc_id, path, size and modification time (the index's file table). A file
whose size or time moved is read again and re-embedded only when its text changed; documents
whose files vanished from the paths given, or became unusable, are dropped. Documents that came
from elsewhere (other folders, web uploads) are left alone. Nothing is encoded, nor the model
loaded, when nothing changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from corpus import Document, DocumentError, SourceFile, find_files, read_file
from embeddings import IndexMismatchError, IndexNotFoundError, model_name, read_manifest
from embeddings.errors import IndexDamagedError
from embeddings.backends import DEFAULT_BACKEND
from embeddings.indexer import LEGACY_ENCODING
from embeddings.lock import writer_lock
from qa.errors import GroundQAError
from qa.knowledge_base import KnowledgeBase, default_index_dir


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
                rebuild: bool = False, model: str | None = None, chunk_size: int = 200, chunk_overlap: int = 1,
                backend: str = DEFAULT_BACKEND, encoder=None, max_bytes: int | None = None,
                show_progress: bool = True,
                wait: bool = True, on_wait: Callable[[str], None] | None = None,
                on_skip: Callable[[str, str], None] | None = None) -> tuple[KnowledgeBase | None, IndexReport]:
    """Bring the index at `index_dir` up to date with the files under `paths` (or build it; a
    damaged index is rebuilt, and `report.damaged` says why).

    Unusable files are skipped, each told to `on_skip(path, reason)`; an index built with another
    model, chunking or format is rebuilt. `encoder` replaces the model on `backend` (tests use a fake).
    Returns the updated knowledge base, or None when the index was already up to date (then it is
    not even opened: only its manifest is read), and the report. Raises DocumentError when no
    usable document remains.
    """
    paths = [Path(p) for p in paths]
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    report = IndexReport()

    def skip(path, reason: str) -> None:
        report.skipped.append((str(path), reason))
        if on_skip is not None:
            on_skip(str(path), reason)

    files = find_files(paths, skip=skip)
    with writer_lock(index_dir, wait=wait, on_wait=on_wait):
        if not rebuild and encoder is None and _up_to_date(index_dir, paths, files, model, chunk_size, chunk_overlap,
                                                            backend, report, skip):
            return None, report
        try:
            current = None if rebuild else _open_compatible(index_dir, model, chunk_size, chunk_overlap, backend,
                                                            encoder)
        except IndexDamagedError as exc:
            current, report.damaged = None, str(exc)
        if current is None:
            documents, table = _read_all(files, max_bytes, skip)
            if not documents:
                raise DocumentError(f"no usable documents in {', '.join(map(str, paths))}")
            report.added = [d.doc_id for d in documents]
            report.rebuilt = True
            kb = KnowledgeBase._build_locked(documents, index_dir=index_dir, model=model, chunk_size=chunk_size,
                                             chunk_overlap=chunk_overlap, backend=backend, encoder=encoder,
                                             show_progress=show_progress, files=table)
        else:
            kb = _update(current, paths, files, max_bytes, skip, report, show_progress)
        report.counts = dict(kb.manifest["counts"])
        return kb, report


def _up_to_date(index_dir: Path, paths: list[Path], files: list[SourceFile], model, chunk_size: int,
                chunk_overlap: int, backend: str, report: IndexReport, skip) -> bool:
    """Whether the index's manifest already records every file as found now (indexed, or skipped
    and why) and none gone: the quick answer for an unchanged folder, with nothing else opened."""
    try:
        manifest = read_manifest(index_dir)
    except GroundQAError:
        return False
    chunking = manifest["chunking"]
    if (manifest["model"]["name"] != model_name(model) or chunking["overlap"] != chunk_overlap
            or chunking["max_tokens"] != chunk_size
            or manifest.get("encoder", LEGACY_ENCODING)["backend"] != backend):
        return False
    known = manifest.get("files", {})
    if any(known.get(f.doc_id) != _record(f) and _skipped_before(f, known) is None for f in files):
        return False
    for f in files:
        reason = _skipped_before(f, known)
        if reason is not None:
            skip(f.path, reason)
    found = {f.doc_id for f in files}
    roots = [p.resolve() for p in paths]
    if any(doc_id not in found and "skipped" not in rec and _under(Path(rec["path"]), roots)
           for doc_id, rec in known.items()):
        return False
    report.unchanged, report.counts = len(files), dict(manifest["counts"])
    return True


def _open_compatible(index_dir: Path, model, chunk_size: int, chunk_overlap: int, backend: str,
                     encoder) -> KnowledgeBase | None:
    """The existing index when an update can keep it, else None (absent, other format, other settings)."""
    try:
        kb = KnowledgeBase.open(index_dir, model=model, backend=backend, encoder=encoder)
    except (IndexNotFoundError, IndexMismatchError):
        return None
    chunking = kb.manifest["chunking"]
    if chunking["overlap"] != chunk_overlap or chunking["max_tokens"] > chunk_size:
        return None
    if encoder is None and kb.manifest.get("encoder", LEGACY_ENCODING)["backend"] != backend:
        return None  # built on another backend: its vectors are not this one's
    if chunking["max_tokens"] < chunk_size and chunking["max_tokens"] != kb.encoder.chunk_token_limit:
        return None
    return kb


def _read_all(files: list[SourceFile], max_bytes, skip) -> tuple[list[Document], dict[str, dict]]:
    documents, table = [], {}
    for file in files:
        document = _read(file, max_bytes, skip, table)
        if document is not None:
            documents.append(document)
            table[file.doc_id] = _record(file)
    return documents, table


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


def _update(kb: KnowledgeBase, paths: list[Path], files: list[SourceFile], max_bytes, skip,
            report: IndexReport, show_progress: bool) -> KnowledgeBase:
    known = kb.manifest.get("files", {})
    present = {d.doc_id: d for d in kb.documents}
    table = {doc_id: rec for doc_id, rec in known.items() if doc_id in present}
    incoming: list[Document] = []
    seen: set[str] = set()
    for file in files:
        record, old = _record(file), known.get(file.doc_id)
        if old == record and file.doc_id in present:
            seen.add(file.doc_id)
            report.unchanged += 1
            continue
        reason = _skipped_before(file, known)
        if reason is not None and file.doc_id not in present:
            skip(file.path, reason)
            table[file.doc_id] = old
            continue
        document = _read(file, max_bytes, skip, table)
        if document is None:
            continue
        seen.add(file.doc_id)
        table[file.doc_id] = record
        if file.doc_id in present and present[file.doc_id].sha256 == document.sha256:
            report.unchanged += 1  # touched, not changed
        else:
            (report.changed if file.doc_id in present else report.added).append(file.doc_id)
            incoming.append(document)
    roots = [p.resolve() for p in paths]
    gone = {doc_id for doc_id, rec in known.items()
            if doc_id in present and doc_id not in seen and _under(Path(rec["path"]), roots)}
    for doc_id in sorted(gone):
        if "skipped" not in table.get(doc_id, {}):  # (a file that turned bad keeps its reason)
            table.pop(doc_id, None)
    report.removed = sorted(gone)
    if gone >= set(present) - {d.doc_id for d in incoming} and not incoming:
        raise GroundQAError("no usable documents would remain in the index: nothing was changed "
                            "(use --rebuild to start over)")
    return kb._rebuilt(incoming, gone | {d.doc_id for d in incoming}, show_progress, files=table)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)
