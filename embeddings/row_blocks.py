"""Rows of several arrays read as one array, without copying them together."""

from __future__ import annotations

from typing import Sequence

import numpy as np


FEW_ROWS = 64  # up to this many rows (or more, if scattered) are read one by one, each straight into place


class RowBlocks:
    """The rows of `blocks` (e.g. each segment's memory-mapped sentence vectors), in order, read
    by row, by slice or by a list of rows; the blocks stay where they are (on disk, for a memory map)."""

    def __init__(self, blocks: Sequence[np.ndarray]) -> None:
        self.blocks = list(blocks)
        self.starts = np.cumsum([0] + [len(b) for b in self.blocks])
        self.shape = (int(self.starts[-1]),) + tuple(self.blocks[0].shape[1:])
        self.dtype = self.blocks[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def _block(self, row: int) -> int:
        return int(np.searchsorted(self.starts, row, side="right")) - 1

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise ValueError("RowBlocks slices take every row")
            b = self._block(start) if start < len(self) else len(self.blocks) - 1
            if stop <= self.starts[b + 1]:
                return self.blocks[b][start - self.starts[b]:stop - self.starts[b]]
            return np.asarray(self)[start:stop]
        if isinstance(key, (int, np.integer)):
            row = int(key) + (len(self) if key < 0 else 0)
            b = self._block(row)
            return self.blocks[b][row - self.starts[b]]
        rows = np.asarray(key)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        if len(rows) <= FEW_ROWS:
            return self._gather_few(rows, out)
        order = np.argsort(rows, kind="stable")
        if 2 * (1 + np.count_nonzero(np.diff(rows[order]) != 1)) > len(rows):
            # Mostly scattered rows (a search's hundreds of candidates): read one by one, which
            # costs ~3 us a row, where a block's list of rows costs ~15 us a block (4x slower here).
            return self._gather_few(rows, out)
        which = np.searchsorted(self.starts, rows[order], side="right") - 1
        self._announce(which, rows[order] - self.starts[which])
        cuts = np.flatnonzero(np.diff(which)) + 1
        # One read per block the rows fall in, each taking its runs of rows in one call.
        for first, last in zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [len(rows)]]).tolist()):
            if first == last:
                continue
            mine = order[first:last]
            b = int(which[first])
            local = rows[mine] - self.starts[b]
            out[mine] = self.blocks[b][int(local[0])] if len(mine) == 1 else self.blocks[b][local]
        return out

    def prefetch(self, rows: Sequence[int] | np.ndarray) -> None:
        """Start reading `rows` from the blocks that read from disk (`RowFile.prefetch_row`), all
        before any is waited for: cold rows then cost about one disk wait, not one each."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not len(rows) or rows.min() < 0 or rows.max() >= len(self):
            return
        which = np.searchsorted(self.starts, rows, side="right") - 1
        self._announce(which, rows - self.starts[which])

    def _announce(self, which: np.ndarray, local: np.ndarray) -> None:
        """`prefetch` of the rows `local` of blocks `which`."""
        for b, row in zip(which.tolist(), local.tolist()):
            block = self.blocks[b]
            if hasattr(block, "prefetch_row"):
                block.prefetch_row(row)

    def _gather_few(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """`out` filled row by row, each read straight into place (a search's few dozen rows over
        hundreds of segments: per-block bookkeeping would cost more than the reads)."""
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows out of range for {len(self)} rows")
        which = np.searchsorted(self.starts, rows, side="right") - 1
        local = rows - self.starts[which]
        self._announce(which, local)  # every read asked for before the first is waited on
        for i, b, row in zip(range(len(rows)), which.tolist(), local.tolist()):
            block = self.blocks[b]
            if hasattr(block, "read_into"):
                block.read_into(row, out[i])
            else:
                out[i] = block[row]
        return out

    def __matmul__(self, other: np.ndarray) -> np.ndarray:
        """`array @ other`, block by block (no copy of the rows together)."""
        parts = [np.asarray(b, dtype=np.float32) @ other for b in self.blocks if len(b)]
        return np.concatenate(parts) if parts else np.zeros((0,) + np.shape(other)[1:], dtype=np.float32)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = np.concatenate(self.blocks) if self.blocks else np.zeros(self.shape, dtype=self.dtype)
        return whole if dtype is None else whole.astype(dtype)
