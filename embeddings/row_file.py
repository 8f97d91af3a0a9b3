"""Rows of a .npy file read on demand with positioned reads, not memory-mapped.

A question reads a few hundred scattered rows (candidate sentences, their windows). Through a
memory map each row's page fault maps its neighbours too (the kernel's fault-around), and a
served index's resident memory grows by megabytes per question until it holds most of the
files. Reading just the rows keeps resident memory to what the process itself allocates.
The file is opened once, when the segment is opened, and read through that descriptor: a merge
that removes the segment's folder later leaves an index opened before it answering, as a memory
map would.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from embeddings import read_ahead


class RowFile:
    """A 2-D (or 1-D) .npy file, read by row, slice, list of rows or mask; whole with `np.asarray`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = npy_format.read_magic(f)
            read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                           else npy_format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self._offset = f.tell()
        if fortran:
            raise ValueError(f"{self.path} is stored in Fortran order")
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _read(self, start: int, stop: int) -> np.ndarray:
        n = max(0, stop - start)
        out = np.empty((n,) + self.shape[1:], dtype=self.dtype)
        if n:
            view, done = memoryview(out.reshape(-1).view(np.uint8)), 0
            while done < len(view):
                got = os.preadv(self._fd, [view[done:]], self._offset + start * self._row_bytes + done)
                if got <= 0:
                    raise OSError(f"{self.path} is shorter than its header says")
                done += got
        return out

    def prefetch_row(self, row: int) -> None:
        """Ask the kernel to start reading row `row` (posix_fadvise WILLNEED) and return at once:
        the reads of a question's scattered rows then wait on the disk together, not in turn."""
        if 0 <= row < len(self):
            read_ahead.file_range(self._fd, self._offset + row * self._row_bytes, self._row_bytes)

    def read_into(self, row: int, out: np.ndarray) -> None:
        """Row `row` read straight into `out` (one C-contiguous row): one call, no temporaries."""
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} out of range for {len(self)} rows")
        view = memoryview(out.reshape(-1).view(np.uint8))
        if os.preadv(self._fd, [view], self._offset + row * self._row_bytes) != len(view):
            out[...] = self._read(row, row + 1)[0]  # a short read: the loop resumes it or says what is wrong

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            rows = self._read(start, stop)
            return rows if step == 1 else rows[::step]
        if isinstance(key, (int, np.integer)):
            row = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= row < len(self):
                raise IndexError(f"row {key} out of range for {len(self)} rows")
            return self._read(row, row + 1)[0]
        rows = np.asarray(key)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64).reshape(-1)
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        # Runs of consecutive rows are read in one call each.
        breaks = np.flatnonzero(np.diff(ordered) > 1) + 1
        for run in np.split(np.arange(len(ordered)), breaks):
            first, last = int(ordered[run[0]]), int(ordered[run[-1]])
            block = self._read(first, last + 1)
            out[order[run]] = block[ordered[run] - first]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self._read(0, len(self))
        return whole if dtype is None else whole.astype(dtype)


class RowSubset:
    """Some rows of an array or `RowFile` (a segment's live rows), read through it on demand."""

    def __init__(self, base, rows: np.ndarray) -> None:
        self._base = base
        self._rows = np.asarray(rows, dtype=np.int64)
        self.shape = (len(self._rows),) + tuple(base.shape[1:])
        self.dtype = base.dtype

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def prefetch_row(self, row: int) -> None:
        """Row `row` of the subset read ahead, as `RowFile.prefetch_row`."""
        if hasattr(self._base, "prefetch_row"):
            self._base.prefetch_row(int(self._rows[row]))

    def read_into(self, row: int, out: np.ndarray) -> None:
        """Row `row` of the subset read into `out`, as `RowFile.read_into`."""
        base_row = int(self._rows[row])
        if hasattr(self._base, "read_into"):
            self._base.read_into(base_row, out)
        else:
            out[...] = self._base[base_row]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._base[int(self._rows[key])]
        return self._base[self._rows[key]]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self._base[self._rows]
        return whole if dtype is None else whole.astype(dtype)


def save_rows(path: Path, array, dtype, rows_at_once: int = 16_384) -> None:
    """Write `array` (an ndarray, `RowFile`, `RowSubset` or `RowBlocks` of them) to a .npy file as
    `dtype`, `rows_at_once` rows at a time: a merge copies segments' vectors file to file without
    holding them all in memory. The file is what `np.save` writes."""
    dtype = np.dtype(dtype)
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False,
                                              "shape": tuple(int(n) for n in array.shape)})
        for block in _leaves(array):
            for start in range(0, len(block), rows_at_once):
                f.write(np.ascontiguousarray(block[start:start + rows_at_once], dtype=dtype).data)


def _leaves(array) -> list:
    """The arrays a `RowBlocks` (perhaps of `RowBlocks`) reads from, in order; others as they are."""
    blocks = getattr(array, "blocks", None)
    return [leaf for block in blocks for leaf in _leaves(block)] if blocks is not None else [array]
