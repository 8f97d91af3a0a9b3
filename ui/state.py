"""What the app shares between visitors: the current knowledge base, and recent answers for download."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, OrderedDict
from typing import Callable

from qa import KnowledgeBase


class KnowledgeBaseHolder:
    """The knowledge base every request uses, swapped whole when documents are added or removed.

    Readers take `current` once per request and keep that object, so a question already running
    finishes on the index it started with. Writers run one at a time under `lock`; readers never wait.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._rows: list[list] | None = None
        self.lock = threading.Lock()

    @property
    def current(self) -> KnowledgeBase:
        return self._kb

    def update(self, change: Callable[[KnowledgeBase], KnowledgeBase]):
        """Run `change(current)` under the write lock and swap in the knowledge base it returns.

        `change` may also return (kb, extra); the extra value is passed back to the caller.
        """
        with self.lock:
            result = change(self._kb)
            kb, extra = result if isinstance(result, tuple) else (result, None)
            if kb is not self._kb:
                self._kb, self._rows = kb, None
            return extra

    def document_rows(self) -> list[list]:
        """[title, source, chunks, doc_id] for every document of the current knowledge base."""
        kb, rows = self._kb, self._rows
        if rows is None:
            counts = Counter(c.doc_id for c in kb.chunks)
            rows = [[d.title, d.source, counts[d.doc_id], d.doc_id] for d in kb.documents]
            if kb is self._kb:
                self._rows = rows
        return rows


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
