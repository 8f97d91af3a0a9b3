"""One writer at a time per index folder: an advisory lock file beside it, freed by the OS when
its holder exits, even by `kill -9`, so a crashed writer never leaves the index locked."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

from embeddings.errors import IndexBusyError


def lock_path(index_dir: Path) -> Path:
    """The lock file of the index at `index_dir` (beside it, so that swapping the folder keeps it)."""
    index_dir = Path(index_dir)
    return index_dir.parent / f".{index_dir.name}.lock"


@contextlib.contextmanager
def writer_lock(index_dir: str | os.PathLike, *, wait: bool = True,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index's writer lock. When another process holds it: wait, telling `on_wait` once,
    or with `wait=False` raise IndexBusyError. Leftovers of crashed writers are removed once held."""
    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(index_dir), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = f"another groundqa process is writing the index at {index_dir}"
            if not wait:
                raise IndexBusyError(f"{message}; try again when it is done (or leave out --no-wait to wait)") from None
            if on_wait is not None:
                on_wait(f"{message}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        remove_leftovers(index_dir)
        yield
    finally:
        os.close(fd)  # closing frees the lock


def remove_leftovers(index_dir: Path) -> None:
    """Delete half-written folders that a killed writer left beside the index (never the index itself)."""
    from embeddings.index_folder import recover

    recover(index_dir)
    for pattern in (f".{index_dir.name}.building-*", f".{index_dir.name}.old-*"):
        for leftover in index_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)
