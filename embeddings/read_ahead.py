"""Asking the kernel to start reading what a question will read next, without waiting for it.

A question at a million chunks reads a few dozen scattered pieces (candidate vectors, passage and
sentence texts) from its segments' files. Read cold one after another, each waits on the disk in
turn; announced first (posix_fadvise WILLNEED), the disk works on all of them at once and the
reads that follow wait about once. Where the system lacks the call (macOS, Windows) nothing is asked.
(Postings are memory-mapped and not announced: madvise per term and segment cost more than it saved.)
"""

from __future__ import annotations

import os

_WILLNEED = getattr(os, "POSIX_FADV_WILLNEED", None) if hasattr(os, "posix_fadvise") else None


def file_range(fd: int, offset: int, size: int) -> None:
    """Start reading `size` bytes at `offset` of the open file `fd` into the page cache."""
    if _WILLNEED is not None and size > 0:
        os.posix_fadvise(fd, offset, size, _WILLNEED)
