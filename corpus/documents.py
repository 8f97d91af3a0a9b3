"""The `Document` that every other stage points into, and `load_documents` for files and folders."""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
from stat import S_ISREG
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from corpus.errors import DocumentError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")


@dataclass(frozen=True)
class Page:
    """One PDF page: its 1-based number and its span in `Document.text`."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """A loaded file. Every offset groundqa reports is an offset into `text`.

    For .txt and .md files `text` is the file's decoded content, unchanged; for HTML it is the
    visible text, for PDF the pages' text joined by blank lines, with `pages` mapping spans to pages.
    """

    doc_id: str
    source: str
    title: str
    text: str
    kind: str = "txt"
    encoding: str = "utf-8"
    pages: tuple[Page, ...] = ()
    sha256: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", text_sha256(self.text))

    def page_at(self, offset: int) -> int | None:
        """The 1-based page number holding character `offset`, or None for unpaged documents."""
        return page_at(self.pages, offset)

    def line_at(self, offset: int) -> int:
        """The 1-based line number holding character `offset` (lines end at '\\n')."""
        return self.text.count("\n", 0, offset) + 1


def page_at(pages: Sequence[Page], offset: int) -> int | None:
    """The 1-based number of the page of `pages` holding character `offset`; None when there are none."""
    if not pages:
        return None
    i = max(0, bisect.bisect_right([p.start for p in pages], offset) - 1)
    return pages[i].number


def text_sha256(text: str) -> str:
    """Content hash of a document's text, so a citation can later be checked against it."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """A file found under the paths given, before it is read: its future doc_id and what tells a change."""

    location: str  # the path as found
    doc_id: str
    source: str
    size: int
    mtime_ns: int
    resolved: str  # the absolute path, which an index records to know where a document came from

    @property
    def path(self) -> Path:
        return Path(self.location)


def find_files(paths: Iterable[str | os.PathLike], *, prefix: str | None = None,
               skip: Callable[[Path, str], None] | None = None) -> list[SourceFile]:
    """The supported files under `paths` (folders recursively, hidden entries and symlinked folders
    left out), each with its doc_id. Unsupported files go to `skip(path, reason)`.

    With `prefix` (e.g. "uploads/"), doc_id and source are the prefix plus the file's name in its
    folder, instead of the path on this machine. Raises DocumentError for a path that does not exist.
    """
    skip = skip or (lambda path, reason: log.warning("skipped %s: %s", path, reason))
    found: list[tuple[str, str, Path | None]] = []  # (path, path inside the folder given, that folder)
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise DocumentError(f"no such file or folder: {raw}")
        if path.is_dir():
            base = str(path).rstrip("/") + "/" if str(path) != "/" else "/"
            found.extend((base + rel, rel, path) for rel in _walk(path))
        else:
            found.append((str(path), path.name, None))
    # Strings, not Path objects, below: a folder of 50,000 files is walked in a fraction of a second.
    cwd = str(Path.cwd().resolve()) + os.sep
    resolved_roots: dict[Path, str] = {}
    files: list[SourceFile] = []
    seen_ids: dict[str, int] = {}
    for name, rel, root in found:
        base = rel[rel.rfind("/") + 1:]
        suffix = base[base.rfind("."):].lower() if base.rfind(".") > 0 else ""
        if suffix not in SUPPORTED_SUFFIXES:
            skip(Path(name), f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(SUPPORTED_SUFFIXES)})")
            continue
        try:
            stat = os.stat(name)
        except OSError as exc:
            skip(Path(name), f"unreadable ({exc.strerror or exc})")
            continue
        if not S_ISREG(stat.st_mode):
            continue
        doc_id = _unique((prefix or "") + rel, seen_ids)  # stable: the path inside the folder given
        if root is None:
            resolved = str(Path(name).resolve())
        else:  # one resolve per folder given, not per file
            if root not in resolved_roots:
                resolved_roots[root] = str(root.resolve()).rstrip("/") + "/"
            resolved = resolved_roots[root] + rel
        # the source as a reader would type it: relative to the working folder when inside it
        source = doc_id if prefix else (resolved[len(cwd):] if resolved.startswith(cwd) else name)
        files.append(SourceFile(name, doc_id, source, stat.st_size, stat.st_mtime_ns, resolved))
    return files


def _walk(root: Path) -> list[str]:
    """The POSIX paths, inside `root`, of every file under it but those in or named like hidden
    entries (".name"), symlinked folders not followed; in path order."""
    out = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        inside = os.path.relpath(folder, root).replace(os.sep, "/")
        out.extend(n if inside == "." else f"{inside}/{n}" for n in names if not n.startswith("."))
    return sorted(out, key=lambda rel: rel.replace("/", "\0"))  # part by part, as paths sort


def read_file(file: SourceFile, *, max_bytes: int | None = None) -> Document:
    """The document of a found file; DocumentError says why a file gives none."""
    from corpus.readers import read_document

    return read_document(file.path, doc_id=file.doc_id, source=file.source, max_bytes=max_bytes)


def load_documents(paths: Iterable[str | os.PathLike], *, warn=None, prefix: str | None = None,
                   skip_unreadable: bool = False, max_bytes: int | None = None) -> list[Document]:
    """Load files and folders (recursively) of .txt, .md, .html/.htm and .pdf into documents.

    Unsupported files are skipped with a one-line warning (passed to `warn`, else logged); so are
    unusable ones (empty, binary, corrupt, too large: see `corpus.readers.read_document`) with
    `skip_unreadable`. `prefix` is `find_files`'. Raises DocumentError for a missing path, for an
    unusable file without `skip_unreadable`, or when nothing usable was found.
    """
    warn = warn or log.warning
    skip = lambda path, reason: warn(f"skipped {path}: {reason}")  # noqa: E731
    documents: list[Document] = []
    for file in find_files(paths, prefix=prefix, skip=skip):
        try:
            documents.append(read_file(file, max_bytes=max_bytes))
        except DocumentError as exc:
            if not skip_unreadable:
                raise DocumentError(f"{file.path}: {exc}") from exc
            skip(file.path, str(exc))
    if not documents:
        names = ", ".join(str(p) for p in paths)
        raise DocumentError(f"no usable documents in {names} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    return documents


def _unique(doc_id: str, seen: dict[str, int]) -> str:
    n = seen.get(doc_id, 0)
    seen[doc_id] = n + 1
    return doc_id if n == 0 else f"{doc_id}~{n + 1}"
