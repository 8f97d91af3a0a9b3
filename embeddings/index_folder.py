"""The index folder on disk: a manifest naming its segments (`embeddings.segments`), replaced atomically.

A commit writes new segment folders, then swaps in a new manifest (write, then rename): a reader
sees the previous commit or the next, never half of one. A rebuild writes a whole new folder and
swaps it in the same way."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from corpus.chunking import Chunk
from corpus.documents import Document, Page
from embeddings.errors import IndexDamagedError, IndexMismatchError, IndexNotFoundError

FORMAT_NAME = "groundqa-index"
SEGMENTS = "segments"
FORMAT_VERSION = 8  # 2: sentence windows (windows.npz); 3: datelines split, conventions spelled out in sentence vectors; 4: main-content HTML, PDF via pdfium, enumeration labels, identifier part terms; 5: int8 ONNX, sentence vectors pooled from the chunks, encoder record, file table, checksums; 6: immutable segments and deletions, BM25 from term counts; 7: chunk and sentence tables as arrays (table.npz), text offsets (text_index.npz), BM25 postings, float16 sentence vectors; 8: texts.bin, document text read by span
MANIFEST = "manifest.json"
# Opening an index checks its files' contents (not only their sizes) up to this many bytes in all.
HASH_LIMIT = 64 * 1024 * 1024
STORE = "store.sqlite"

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, position INTEGER NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, kind TEXT NOT NULL, encoding TEXT NOT NULL, sha256 TEXT NOT NULL,
    pages TEXT NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    idx INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, sentences TEXT NOT NULL
);
"""


def new_manifest(*, model: str, dimension: int, chunking: dict, retrieval: dict,
                 n_documents: int, n_chunks: int) -> dict:
    """A manifest for an index being written now."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "index_id": uuid.uuid4().hex,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": model, "dimension": dimension},
        "chunking": chunking,
        "retrieval": retrieval,
        "counts": {"documents": n_documents, "chunks": n_chunks},
    }


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; on success it replaces `target` whole.

    On any exception (Ctrl-C included) the temporary folder is removed and `target` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        yield tmp
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(new: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old.exists():
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def recover(target: Path) -> None:
    """Finish a swap that was cut between its two renames: bring the previous index back."""
    if target.exists():
        return
    olds = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.rename(olds[-1], target)


def write_manifest(folder: Path, manifest: dict) -> None:
    """Replace the manifest atomically (written beside it, then renamed over it). Its first key is
    the SHA-256 of the rest of the text as written, so that a check costs one hash, not a re-encoding."""
    # compact: json's C encoder writes it (with indent it falls back to Python, 10x slower on large indexes)
    body = json.dumps({k: v for k, v in manifest.items() if k != "sha256"}, ensure_ascii=False, separators=(",", ":"))
    text = f'{_HEAD}{_sha256(body.encode("utf-8"))}",{body[1:]}\n'
    tmp = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)


_HEAD = '{"sha256":"'


def _checksum_holds(raw: str) -> bool:
    """Whether a manifest's text after its sha256 key is the text that checksum was taken of."""
    start = len(_HEAD) + 64
    if not raw.startswith(_HEAD) or raw[start:start + 2] != '",':
        return False
    body = "{" + raw[start + 2:].removesuffix("\n")
    return _sha256(body.encode("utf-8")) == raw[len(_HEAD):start]


def file_checksums(folder: Path) -> dict[str, dict]:
    """Size and SHA-256 of every file under `folder`, by POSIX path relative to it."""
    return {p.relative_to(folder).as_posix(): file_checksum(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def file_checksum(path: Path) -> dict:
    """Size and SHA-256 of one file."""
    return {"size": path.stat().st_size, "sha256": _file_sha256(path)}


def listed_files(manifest: dict) -> dict[str, dict]:
    """Every file of the index's segments and its approximate vector index, by path relative to the
    index folder, with size and SHA-256."""
    listed = {f"{SEGMENTS}/{segment['name']}/{name}": expected
              for segment in manifest.get("segments", []) for name, expected in segment["files"].items()}
    return {**listed, **manifest.get("vector_index", {}).get("files", {})}


def verify_files(folder: Path, manifest: dict, *, hash_limit: int | None = None) -> None:
    """Raise IndexDamagedError when a file the manifest lists is missing or not what was written.

    Sizes are always checked; contents too (SHA-256) when all files together hold at most
    `hash_limit` bytes, so that opening a large index stays quick.
    """
    checksums = listed_files(manifest)
    deep = sum(c["size"] for c in checksums.values()) <= (HASH_LIMIT if hash_limit is None else hash_limit)
    for name, expected in checksums.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            raise damaged(folder, f"{name} is missing") from None
        if size != expected["size"]:
            raise damaged(folder, f"{name} has {size} bytes, {expected['size']} were written")
        if deep and _file_sha256(path) != expected["sha256"]:
            raise damaged(folder, f"{name} is not the file that was written (checksum differs)")


def damaged(folder: Path, why: str) -> IndexDamagedError:
    """The error for a damaged index, naming what is wrong and the command that rebuilds it."""
    return IndexDamagedError(f"the index at {folder} is damaged ({why}): rebuild it with "
                             f"`groundqa index PATH... --rebuild --index {folder}`")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path, *, expected_dimension: int | None = None) -> dict:
    """The manifest of the index at `folder`, checked against this code's format version."""
    folder = Path(folder)
    recover(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index at {folder}: build one with `groundqa index PATH... --index {folder}`")
    try:
        raw = path.read_bytes().decode("utf-8")
        manifest = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise damaged(folder, f"unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise damaged(folder, f"{MANIFEST} holds no manifest")
    if manifest.get("format") == FORMAT_NAME and manifest.get("format_version") == FORMAT_VERSION:
        if not _checksum_holds(raw):
            raise damaged(folder, f"{MANIFEST} was edited after it was written")
    if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {folder} has format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r}; this groundqa reads {FORMAT_NAME!r} version "
            f"{FORMAT_VERSION}: rebuild it with `groundqa index PATH... --index {folder}`")
    if expected_dimension is not None and manifest["model"]["dimension"] != expected_dimension:
        raise IndexMismatchError(
            f"index at {folder} holds {manifest['model']['dimension']}-dimensional vectors but the "
            f"model gives {expected_dimension}: rebuild it with `groundqa index`")
    return manifest


def read_checked_manifest(folder: Path) -> dict:
    """`read_manifest`, with every file it lists found at its size: the quick check for commands
    that read the manifest and a few files, not the whole index (no hashing)."""
    manifest = read_manifest(folder)
    verify_files(Path(folder), manifest, hash_limit=0)
    return manifest


def write_store(folder: Path, documents: Sequence[Document], chunks: Sequence[Chunk]) -> None:
    """Documents and chunk offsets to SQLite (chunk text is derived from document text on load)."""
    con = sqlite3.connect(folder / STORE)
    try:
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
            [(d.doc_id, i, d.source, d.title, d.text, d.kind, d.encoding, d.sha256,
              json.dumps([[p.number, p.start, p.end] for p in d.pages])) for i, d in enumerate(documents)])
        con.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
            [(row, c.doc_id, c.index, c.start, c.end, json.dumps(c.sentences)) for row, c in enumerate(chunks)])
        con.commit()
    finally:
        con.close()


def read_titles(folder: Path) -> list[tuple[str, str, str, int]]:
    """(doc_id, source, title, length of text) of a store's documents, in their indexed order,
    without reading their text or chunks."""
    con = sqlite3.connect(f"file:{folder / STORE}?mode=ro", uri=True)
    try:
        return con.execute("SELECT doc_id, source, title, length(text) FROM documents ORDER BY position").fetchall()
    finally:
        con.close()


def read_store(folder: Path) -> tuple[list[Document], list[Chunk]]:
    """Documents in their indexed order and chunks in row order (row = vector id)."""
    con = sqlite3.connect(f"file:{folder / STORE}?mode=ro", uri=True)
    try:
        documents = [
            Document(doc_id, source, title, text, kind=kind, encoding=encoding,
                     pages=tuple(Page(*p) for p in json.loads(pages)), sha256=sha)
            for doc_id, source, title, text, kind, encoding, sha, pages in con.execute(
                "SELECT doc_id, source, title, text, kind, encoding, sha256, pages "
                "FROM documents ORDER BY position")]
        texts = {d.doc_id: d.text for d in documents}
        chunks = [
            Chunk(doc_id, idx, start, end, texts[doc_id],
                  tuple(tuple(s) for s in json.loads(sentences)))
            for doc_id, idx, start, end, sentences in con.execute(
                'SELECT doc_id, idx, start, "end", sentences FROM chunks ORDER BY row')]
    finally:
        con.close()
    return documents, chunks
