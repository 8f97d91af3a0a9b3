"""An opened index's documents: their records in memory, their text read from the store when asked.

The text of a million chunks' documents is a gigabyte or more as Python strings; a question
needs a few spans of a few documents. A span is read alone: each segment keeps, beside its
store, its documents' UTF-8 text in one flat file (`TEXTS`) and the byte offset of every
`STEP`-th character of each (`TEXT_INDEX`), and a span is one positioned read there. (SQLite's
blob reads walk a long text's chain of overflow pages to reach a deep span: ~0.13 ms a passage
in a 1 MB document.) Each segment's files stay open from the moment the index is opened, so a
merge that removes the segment's folder later leaves this view reading what it opened.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from corpus.documents import Document, Page, page_at
from embeddings import read_ahead
from embeddings.index_folder import STORE

# Whole texts kept after use, up to this many characters in all (the last one read is always kept).
CACHE_CHARS = 8_000_000
TEXT_INDEX = "text_index.npz"
TEXTS = "texts.bin"
STEP = 512  # characters between two byte offsets kept
LOOK_BACK = 8192  # what a sentence is read with, at most, of the text before it (a table's header row)


@dataclass(frozen=True)
class DocumentRecord:
    """What an index keeps of a document in memory: everything but its text."""

    doc_id: str
    source: str
    title: str
    kind: str
    encoding: str
    sha256: str
    pages: tuple[Page, ...]
    chars: int

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding character `offset`, or None for unpaged documents."""
        return page_at(self.pages, offset)


def write_text_index(folder: Path, documents: Sequence[Document]) -> None:
    """The documents' UTF-8 text, one after another (`TEXTS`), and for each, where it starts, and
    the byte offset (in its text) and the count of newlines before every `STEP`-th character and
    at its end: what `SegmentStore.span` and `line_at` read by."""
    offsets, lines, pointers, begins = [], [], [0], [0]
    with open(Path(folder) / TEXTS, "wb") as texts:
        for doc in documents:
            encoded = doc.text.encode("utf-8")
            texts.write(encoded)
            begins.append(begins[-1] + len(encoded))
            _index_text(encoded, offsets, lines, pointers)
    with open(Path(folder) / TEXT_INDEX, "wb") as f:  # a file object keeps numpy from renaming the path
        np.savez(f, pointers=np.array(pointers, dtype=np.int64), begins=np.array(begins, dtype=np.int64),
                 offsets=np.concatenate(offsets or [np.zeros(0)]).astype(np.int64),
                 lines=np.concatenate(lines or [np.zeros(0)]).astype(np.int64))


def _index_text(encoded: bytes, offsets: list, lines: list, pointers: list) -> None:
    """Append one text's byte offsets and newline counts (every `STEP`-th character, and its end)."""
    raw = np.frombuffer(encoded, dtype=np.uint8)
    starts = np.flatnonzero((raw & 0xC0) != 0x80)  # the byte where each character starts
    marks = np.append(starts[::STEP], len(raw))
    newlines = np.searchsorted(starts, np.flatnonzero(raw == 10))  # as character offsets
    lines.append(np.searchsorted(newlines, np.append(np.arange(0, len(starts), STEP), len(starts))))
    offsets.append(marks)
    pointers.append(pointers[-1] + len(marks))


class SegmentStore:
    """One segment's document store, open read-only for the life of the view."""

    def __init__(self, folder: Path) -> None:
        self._con = sqlite3.connect(f"file:{Path(folder) / STORE}?mode=ro&immutable=1", uri=True,
                                    check_same_thread=False)
        # SQLite's page cache (2 MB by default) would fill with text pages of every segment; the
        # text is read a span at a time, and the few rows read often are few.
        self._con.execute("PRAGMA cache_size = -64")
        self._lock = threading.Lock()
        with np.load(Path(folder) / TEXT_INDEX, allow_pickle=False) as z:
            self._pointers, self._offsets, self._lines = z["pointers"], z["offsets"], z["lines"]
            self._begins = z["begins"]
        self._texts = os.open(Path(folder) / TEXTS, os.O_RDONLY)
        weakref.finalize(self, os.close, self._texts)
        rows = self._con.execute("SELECT doc_id FROM documents ORDER BY position").fetchall()
        self._where = {doc_id: i for i, (doc_id,) in enumerate(rows)}  # -> position

    def records(self) -> list[DocumentRecord]:
        """Every document's record, in indexed order."""
        with self._lock:
            rows = self._con.execute("SELECT doc_id, source, title, kind, encoding, sha256, pages, length(text) "
                                     "FROM documents ORDER BY position").fetchall()
        return [DocumentRecord(d, s, t, k, e, h, tuple(Page(*p) for p in json.loads(pages)), n)
                for d, s, t, k, e, h, pages, n in rows]

    def text(self, doc_id: str) -> str:
        with self._lock:
            row = self._con.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return row[0]

    def _bytes(self, doc_id: str, start: int, end: int) -> tuple[int, int, int, int]:
        """(file offset, size, first character, end) of the whole steps of `texts.bin` holding `start:end`."""
        position = self._where[doc_id]
        marks = self._offsets[self._pointers[position]:self._pointers[position + 1]]
        end = min(max(end, start), (len(marks) - 2) * STEP + STEP)
        first, last = start // STEP, min(-(-end // STEP), len(marks) - 1)
        if first >= last:
            return 0, 0, 0, 0
        return int(self._begins[position] + marks[first]), int(marks[last] - marks[first]), first * STEP, end

    def span(self, doc_id: str, start: int, end: int) -> str:
        """Characters `start:end` of the document's text, read alone."""
        offset, size, first, end = self._bytes(doc_id, start, end)
        if not size:
            return ""
        raw = os.pread(self._texts, size, offset)
        if len(raw) != size:
            raise OSError(f"{TEXTS} is shorter than its index says")
        return raw.decode("utf-8")[start - first:end - first]

    def prefetch(self, doc_id: str, start: int, end: int) -> None:
        """Start reading characters `start:end` (posix_fadvise WILLNEED) without waiting for them."""
        offset, size, _, _ = self._bytes(doc_id, start, end)
        read_ahead.file_range(self._texts, offset, size)

    def line_at(self, doc_id: str, offset: int) -> int:
        """The 1-based line holding character `offset` (lines end at "\\n")."""
        position = self._where[doc_id]
        block = offset // STEP
        before = int(self._lines[self._pointers[position] + block])
        return before + self.span(doc_id, block * STEP, offset).count("\n") + 1


class DocumentShelf:
    """The live documents of an index, in index order: records by id or position, whole
    `Document`s (text read from their segment's store, recent ones cached) on request."""

    def __init__(self, records: Sequence[DocumentRecord], stores: Sequence[SegmentStore],
                 cache_chars: int = CACHE_CHARS) -> None:
        self.records = list(records)
        self.ids = [r.doc_id for r in self.records]
        self._position = {d: i for i, d in enumerate(self.ids)}
        self._stores = list(stores)  # one per record
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._cached_chars = 0
        self._cache_chars = cache_chars
        self._lock = threading.Lock()
        # An answer reads the same spans several times (scoring, the reader, the quote).
        self.span = functools.lru_cache(maxsize=2048)(self._span)

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._position

    def __iter__(self) -> Iterator[DocumentRecord]:
        return iter(self.records)

    def position(self, doc_id: str) -> int:
        """The document's position in index order; KeyError when it is not indexed."""
        return self._position[doc_id]

    def record(self, doc_id: str) -> DocumentRecord:
        return self.records[self._position[doc_id]]

    def _span(self, doc_id: str, start: int, end: int) -> str:
        """Characters `start:end` of a document's text (`text[start:end]`), without reading it whole."""
        return self._stores[self._position[doc_id]].span(doc_id, start, end)

    def prefetch(self, spans: Iterable[tuple[str, int, int]]) -> None:
        """Start reading the texts of `spans` ((doc_id, start, end) each), all before any is read,
        so that the reads that follow wait on the disk once, not once each."""
        for doc_id, start, end in spans:
            self._stores[self._position[doc_id]].prefetch(doc_id, start, end)

    def line_at(self, doc_id: str, offset: int) -> int:
        """The 1-based line of a document holding character `offset`."""
        return self._stores[self._position[doc_id]].line_at(doc_id, offset)

    def around(self, doc_id: str, start: int, end: int, before: int = LOOK_BACK) -> tuple[str, int]:
        """(text, shift): a document's text from the start of a line at most `before` characters
        before `start` through `end`, and its offset in the document (a sentence read with what precedes it)."""
        shift = max(0, start - before)
        text = self.span(doc_id, shift, end)
        if shift:
            cut = text.find("\n", 0, start - shift)
            cut = start - shift if cut < 0 else cut + 1
            text, shift = text[cut:], shift + cut
        return text, shift

    def get(self, doc_id: str) -> Document:
        """The whole document; KeyError when it is not indexed."""
        with self._lock:
            doc = self._cache.get(doc_id)
            if doc is not None:
                self._cache.move_to_end(doc_id)
                return doc
        i = self._position[doc_id]
        r = self.records[i]
        doc = Document(r.doc_id, r.source, r.title, self._stores[i].text(doc_id), kind=r.kind, encoding=r.encoding,
                       pages=r.pages, sha256=r.sha256)
        with self._lock:
            if doc_id not in self._cache:
                self._cache[doc_id] = doc
                self._cached_chars += len(doc.text)
                while self._cached_chars > self._cache_chars and len(self._cache) > 1:
                    _, old = self._cache.popitem(last=False)
                    self._cached_chars -= len(old.text)
        return doc
