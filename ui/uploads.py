"""Safe handling of uploaded files: size and type limits, sanitized names, careful zip extraction.

Every file lands flat in one upload folder under a sanitized name, so nothing a visitor sends can
write outside it. Archives are read member by member with the byte counts enforced while copying
(a zip's declared sizes can lie), and an archive with an unsafe member is refused whole.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable

from qa import GroundQAError

DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
ARCHIVE_SUFFIXES = (".zip",)
UPLOAD_SUFFIXES = DOCUMENT_SUFFIXES + ARCHIVE_SUFFIXES
MB = 1024 * 1024
MAX_NAME_CHARS = 120
_COPY_BLOCK = 1024 * 1024


class UploadError(GroundQAError):
    """An uploaded file or archive that is refused (too big, unsafe path, unreadable archive)."""


@dataclass(frozen=True)
class UploadPolicy:
    """Limits on what an upload may bring in; sizes in megabytes."""

    max_file_mb: float = 50
    max_archive_members: int = 1000
    max_archive_total_mb: float = 200

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * MB)

    @property
    def max_archive_bytes(self) -> int:
        return int(self.max_archive_total_mb * MB)


@dataclass
class StagedFiles:
    """What `stage_uploads` put in the upload folder, and a line for each file it left out."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sanitize_name(name: str) -> str:
    """A safe flat file name: no folders, no leading dot, only letters, digits and `._-`; suffix kept.

    `../../etc/passwd` → `passwd`; `C:\\x\\a b.md` → `a_b.md`; `<img onerror=x>.md` → `img_onerror_x_.md`.
    """
    base = PureWindowsPath(PurePosixPath(str(name).replace("\x00", "")).name).name
    base = unicodedata.normalize("NFKC", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._-")
    suffix = re.sub(r"[^\w]+", "", suffix, flags=re.ASCII).lower()
    stem = stem[:MAX_NAME_CHARS - len(suffix) - 1] or "upload"
    return f"{stem}.{suffix}" if suffix else stem


def stage_uploads(files: Iterable[str | os.PathLike | tuple[str | os.PathLike, str]], dest: Path,
                  policy: UploadPolicy = UploadPolicy()) -> StagedFiles:
    """Copy uploaded files (and the documents inside .zip files) into `dest` under sanitized names.

    `files` are paths, or (path, original name) pairs when the path on disk does not carry the
    name the visitor gave. Unsupported types are skipped with a note; a file over the size limit
    and an archive with an unsafe member raise UploadError naming the file and the limit, and
    then nothing of this upload is kept (files are gathered in a staging folder first).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest))
    try:
        staged = _stage(files, staging, policy)
        final = []
        for path in staged.paths:
            target = dest / path.name
            os.replace(path, target)
            final.append(target)
        staged.paths = final
        return staged
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(files, dest: Path, policy: UploadPolicy) -> StagedFiles:
    staged = StagedFiles()
    taken: set[str] = set()
    for item in files:
        path, original = (Path(item[0]), item[1]) if isinstance(item, tuple) else (Path(item), Path(item).name)
        display = sanitize_name(original)
        suffix = Path(display).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            staged.notes.append(f"skipped {display}: unsupported file type '{suffix or '(none)'}' "
                                f"(supported: {', '.join(UPLOAD_SUFFIXES)})")
            continue
        size = path.stat().st_size
        if size > policy.max_file_bytes:
            raise UploadError(f"{display} is {_mb(size)} MB, over the {policy.max_file_mb:g} MB limit "
                              "per file: split it or ask the operator to raise max_file_mb")
        if suffix in ARCHIVE_SUFFIXES:
            _extract_zip(path, display, dest, policy, staged, taken)
        else:
            with open(path, "rb") as src:
                staged.paths.append(_write(src, dest, _unique(display, taken), policy.max_file_bytes, display))
    return staged


def _extract_zip(path: Path, display: str, dest: Path, policy: UploadPolicy, staged: StagedFiles,
                 taken: set[str]) -> None:
    """Copy the supported documents of one archive into `dest`, flattening folders into the name."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{display} is not a readable zip archive ({exc})") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        _check_members(members, display, policy)
        total = 0
        for member in members:
            parts = PurePosixPath(member.filename.replace("\\", "/")).parts
            if any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue  # hidden files and macOS resource forks are not documents
            name = sanitize_name("_".join(parts))
            suffix = Path(name).suffix.lower()
            if suffix not in DOCUMENT_SUFFIXES:
                staged.notes.append(f"skipped {display}: {sanitize_name(parts[-1])}: unsupported file type "
                                    f"'{suffix or '(none)'}'")
                continue
            limit = min(policy.max_file_bytes, policy.max_archive_bytes - total)
            try:
                with archive.open(member) as src:
                    out = _write(src, dest, _unique(name, taken), limit, f"{display}: {name}")
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                raise UploadError(f"{display}: {name} could not be unpacked ({exc})") from exc
            total += out.stat().st_size
            staged.paths.append(out)


def _check_members(members: list[zipfile.ZipInfo], display: str, policy: UploadPolicy) -> None:
    """Refuse the whole archive for absolute paths, `..`, symlinks, encryption or too many/too big members."""
    if len(members) > policy.max_archive_members:
        raise UploadError(f"{display} holds {len(members)} files, over the limit of {policy.max_archive_members}")
    declared = 0
    for m in members:
        name = m.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or pure.is_absolute():
            raise UploadError(f"{display} refused: member {name!r} has an absolute path")
        if ".." in pure.parts:
            raise UploadError(f"{display} refused: member {name!r} points outside the archive ('..')")
        if stat.S_ISLNK(m.external_attr >> 16):
            raise UploadError(f"{display} refused: member {name!r} is a symbolic link")
        if m.flag_bits & 0x1:
            raise UploadError(f"{display} refused: member {name!r} is encrypted")
        if m.file_size > policy.max_file_bytes:
            raise UploadError(f"{display} refused: member {name!r} is {_mb(m.file_size)} MB, over the "
                              f"{policy.max_file_mb:g} MB limit per file")
        declared += m.file_size
    if declared > policy.max_archive_bytes:
        raise UploadError(f"{display} refused: it unpacks to {_mb(declared)} MB, over the "
                          f"{policy.max_archive_total_mb:g} MB limit per archive")


def _write(src, dest: Path, name: str, limit: int, display: str) -> Path:
    """Stream `src` into dest/name (atomically, via a temporary file) stopping at `limit` bytes."""
    target = dest / name
    if target.resolve().parent != dest.resolve():
        raise UploadError(f"{display} refused: its name would leave the upload folder")
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=dest)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            while block := src.read(_COPY_BLOCK):
                written += len(block)
                if written > limit:
                    raise UploadError(f"{display} is larger than the {_mb(limit)} MB allowed")
                out.write(block)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _mb(size: int) -> str:
    return f"{size / MB:.3g}"


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name-2.ext`, `name-3.ext`... when this upload already used it."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate.lower())
    return candidate


def remove_uploaded(source: str, upload_dir: Path) -> bool:
    """Delete the uploaded copy of a document when `source` is a file inside `upload_dir` (never elsewhere)."""
    path = Path(source)
    try:
        resolved = path.resolve()
    except OSError:
        return False
    if resolved.parent != Path(upload_dir).resolve() or not resolved.is_file():
        return False
    resolved.unlink()
    return True
