"""Work started on a helper thread while the caller does its own, as a search runs its dense and
lexical halves at once: most of each is spent outside the GIL (ONNX, FAISS, reads, numpy)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")


class SideThread:
    """`workers` helper threads, made when first needed. `start(fn)` runs `fn` on one if one is
    free, else at once in the caller's thread (several asks at a time then share no queue), and
    returns a function that waits for `fn`'s result (or raises its error)."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._free = threading.BoundedSemaphore(workers)
        self._made = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def start(self, fn: Callable[[], T]) -> Callable[[], T]:
        if not self._free.acquire(blocking=False):
            return run_now(fn)
        try:
            with self._made:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="groundqa-side")
            future = self._pool.submit(self._run_and_free, fn)
        except BaseException:
            self._free.release()
            raise
        return future.result

    def _run_and_free(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        finally:
            self._free.release()


def run_now(fn: Callable[[], T]) -> Callable[[], T]:
    """`SideThread.start` without a thread: `fn` runs now; the function returned gives its result."""
    value = fn()
    return lambda: value
