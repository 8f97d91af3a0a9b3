"""`RowFile` reads a .npy file's rows with positioned reads: the same values as numpy's own loader."""

from __future__ import annotations

import os

import numpy as np
import pytest

from embeddings.row_blocks import RowBlocks
from embeddings.row_file import RowFile, RowSubset


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_rows_read_as_numpy_reads_them(tmp_path, dtype):
    array = np.random.default_rng(0).standard_normal((57, 6)).astype(dtype)
    np.save(tmp_path / "a.npy", array)
    rows = RowFile(tmp_path / "a.npy")
    assert rows.shape == array.shape and rows.dtype == array.dtype and len(rows) == 57
    np.testing.assert_array_equal(rows[0], array[0])
    np.testing.assert_array_equal(rows[-1], array[-1])
    np.testing.assert_array_equal(rows[5:9], array[5:9])
    np.testing.assert_array_equal(rows[50:99], array[50:])
    picks = [40, 3, 4, 5, 3, 56, 0]  # unsorted, repeated, with a run
    np.testing.assert_array_equal(rows[picks], array[picks])
    mask = np.arange(57) % 3 == 0
    np.testing.assert_array_equal(rows[mask], array[mask])
    np.testing.assert_array_equal(np.asarray(rows), array)
    assert rows[[]].shape == (0, 6)
    with pytest.raises(IndexError):
        rows[57]
    blocks = RowBlocks([rows, RowFile(tmp_path / "a.npy")])
    both = np.vstack([array, array])
    np.testing.assert_array_equal(blocks[[1, 60, 113]], both[[1, 60, 113]])  # a few rows: read one by one
    many = np.random.default_rng(1).permutation(114)[:100]  # many: read in runs, block by block
    np.testing.assert_array_equal(blocks[many], both[many])
    big = np.random.default_rng(2).standard_normal((900, 6)).astype(dtype)
    np.save(tmp_path / "big.npy", big)
    wide = RowBlocks([RowFile(tmp_path / "big.npy")] * 3)
    scattered = np.random.default_rng(3).choice(2700, 300, replace=False)  # many, scattered: one by one
    np.testing.assert_array_equal(wide[scattered], np.vstack([big] * 3)[scattered])
    np.testing.assert_array_equal(wide[np.r_[scattered, scattered[:5]]], np.vstack([big] * 3)[np.r_[scattered, scattered[:5]]])
    with pytest.raises(IndexError):
        blocks[[3, 114]]
    live = RowBlocks([RowSubset(RowFile(tmp_path / "a.npy"), np.array([2, 9, 56])), rows])
    np.testing.assert_array_equal(live[[2, 0, 59]], np.vstack([array[[2, 9, 56]], array])[[2, 0, 59]])
    query = np.ones(6, dtype=np.float32)
    np.testing.assert_allclose(blocks @ query, np.vstack([array, array]).astype(np.float32) @ query, rtol=1e-5)


def test_a_truncated_file_is_an_error_not_zeros(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((100, 4), dtype=np.float32))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:-80])
    with pytest.raises(OSError):
        RowFile(tmp_path / "a.npy")[90:100]


def test_rows_stay_readable_after_the_file_is_removed(tmp_path):
    """A merge removes old segment folders while an index opened before it still answers."""
    array = np.arange(40, dtype=np.float32).reshape(10, 4)
    np.save(tmp_path / "a.npy", array)
    rows = RowFile(tmp_path / "a.npy")
    (tmp_path / "a.npy").unlink()
    np.testing.assert_array_equal(rows[[2, 7]], array[[2, 7]])


def test_rows_are_read_ahead_where_they_lie_before_any_is_read(tmp_path, monkeypatch):
    """A gather asks the kernel for every row's bytes (posix_fadvise WILLNEED) before reading one,
    so cold rows wait on the disk together; subsets and in-memory blocks are mapped right."""
    if not hasattr(os, "posix_fadvise"):
        pytest.skip("posix_fadvise is not available on this system")
    array = np.arange(60, dtype=np.float32).reshape(15, 4)
    np.save(tmp_path / "a.npy", array)
    data = (tmp_path / "a.npy").read_bytes()
    events = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, size, advice: events.append(("ahead", offset, size)))
    real_preadv = os.preadv
    monkeypatch.setattr(os, "preadv", lambda fd, views, offset: events.append(("read",)) or real_preadv(fd, views, offset))
    blocks = RowBlocks([array[:3], RowSubset(RowFile(tmp_path / "a.npy"), np.array([14, 2, 7])), RowFile(tmp_path / "a.npy")])
    picked = blocks[[4, 0, 20, 3]]  # the subset's 1 (file row 2), memory, the file's 14, the subset's 0 (14)
    np.testing.assert_array_equal(picked, array[[2, 0, 14, 14]])
    ahead = [e for e in events if e[0] == "ahead"]
    assert [e[0] for e in events[:len(ahead)]] == ["ahead"] * 3 and len(ahead) == 3  # all before any read
    got = [np.frombuffer(data[offset:offset + size], dtype=np.float32) for _, offset, size in ahead]
    np.testing.assert_array_equal(np.vstack(got), array[[2, 14, 14]])
    events.clear()
    blocks.prefetch([99, -1])  # out of range: nothing asked, nothing raised
    assert events == []


def test_rows_saved_piece_by_piece_make_the_file_numpy_saves(tmp_path):
    from embeddings.row_file import save_rows

    array = np.random.default_rng(4).standard_normal((41, 5)).astype(np.float32)
    np.save(tmp_path / "a.npy", array)
    rows = RowFile(tmp_path / "a.npy")
    nested = RowBlocks([RowBlocks([rows, RowSubset(rows, np.array([3, 1, 40]))]), array[:0], array[7:9]])
    expected = np.vstack([array, array[[3, 1, 40]], array[7:9]]).astype(np.float16)
    save_rows(tmp_path / "out.npy", nested, np.float16, rows_at_once=4)
    with open(tmp_path / "want.npy", "wb") as f:
        np.save(f, expected)
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "want.npy").read_bytes()
    offsets = np.arange(10, dtype=np.int64)  # one-dimensional, as window offsets are
    save_rows(tmp_path / "o.npy", offsets, np.int64, rows_at_once=3)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), offsets)
