"""Many people asking at once while uploads run, against a real `groundqa serve` process
(benchmarks/soak.py, shortened): no failed call, and memory that does not creep."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_concurrent_asks_during_uploads_all_succeed_in_bounded_memory(sample_kb, tmp_path):
    pytest.importorskip("gradio_client")
    from soak import soak

    # An upload every 1.5 s: more than 10 small segments, so a merge runs while questions are read.
    row = soak(sample_kb.index_dir, clients=4, seconds=30, upload_every=1.5, work=tmp_path)
    assert row["errors"] == 0, row["first_errors"]
    assert row["upload_errors"] == 0 and row["uploads"] >= 11
    assert row["asks"] >= 20
    # Stated bound: the served sample index stays under 1.5 GB, and does not grow by more than
    # 150 MB over the second half of the run (uploads add documents and reopen the index).
    assert row["rss_peak_mb"] < 1500 and row["rss_growth_mb"] < 150, row
