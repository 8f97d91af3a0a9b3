"""What the app shares between visitors: the current knowledge base, and recent answers for download."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from qa import GroundQAError, KnowledgeBase

log = logging.getLogger(__name__)


class KnowledgeBaseHolder:
    """The knowledge base every request uses, swapped whole when documents are added or removed,
    here or by another process (`groundqa index` while the chat runs).

    Readers take `current` once per request and keep that object, so a question already running
    finishes on the index it started with. Writers run one at a time under `lock`; readers never
    wait. At most every `check_seconds`, `current` looks whether another process committed a new
    index (its manifest is a new file after every commit) and, if so, opens it; a commit is one
    rename, so what it opens is always whole.
    """

    def __init__(self, kb: KnowledgeBase, *, check_seconds: float = 1.0) -> None:
        self._kb = kb
        self._rows: list[list] | None = None
        self.lock = threading.Lock()
        self.check_seconds = check_seconds
        self._checked = time.monotonic()
        self._signature = _signature(kb)

    @property
    def current(self) -> KnowledgeBase:
        if time.monotonic() - self._checked >= self.check_seconds:
            self._checked = time.monotonic()
            if _signature(self._kb) != self._signature and self.lock.acquire(blocking=False):
                try:
                    self._reopen()
                finally:
                    self.lock.release()
        return self._kb

    def _reopen(self) -> None:
        signature = _signature(self._kb)
        if signature is None or signature == self._signature:
            return  # mid-swap, or already seen
        try:
            kb = KnowledgeBase.open(self._kb.index_dir)
        except GroundQAError:
            log.warning("the index at %s changed but cannot be opened; still answering from the one loaded",
                        self._kb.index_dir, exc_info=True)
            self._signature = signature
            return
        self._kb, self._rows, self._signature = kb, None, _signature(kb)

    def update(self, change: Callable[[KnowledgeBase], KnowledgeBase]):
        """Run `change(current)` under the write lock and swap in the knowledge base it returns.

        `change` may also return (kb, extra); the extra value is passed back to the caller.
        """
        with self.lock:
            result = change(self._kb)
            kb, extra = result if isinstance(result, tuple) else (result, None)
            if kb is not self._kb:
                self._kb, self._rows, self._signature = kb, None, _signature(kb)
            return extra

    def document_rows(self) -> list[list]:
        """[title, source, chunks, doc_id] for every document of the current knowledge base."""
        kb = self.current
        rows = self._rows
        if rows is None:
            counts = kb.chunk_counts()
            rows = [[d.title, d.source, counts[d.doc_id], d.doc_id] for d in kb.records]
            if kb is self._kb:
                self._rows = rows
        return rows


def _signature(kb: KnowledgeBase) -> tuple[int, int] | None:
    """What changes when an index is committed at the knowledge base's folder: its manifest's identity."""
    try:
        stat = (Path(kb.index_dir) / "manifest.json").stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class AnswerStore:
    """The last `capacity` answers as JSON-ready dicts, by a random id the chat links to."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, data: dict) -> str:
        key = uuid.uuid4().hex[:16]
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._items.get(key)
